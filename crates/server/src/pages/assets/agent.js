// The agent desk: identify a person (after checking their ID card), then show their eligibility
// and bookings and book, change or cancel for them through /api/v1/agent/*.
//
// The person token lives in sessionStorage only: it goes as a bearer header on each call, never
// in a cookie or the URL, survives this tab's reloads (a new region search reloads the page) and
// is gone with "next person" or when the tab closes. The agent's own token is the HttpOnly
// cookie the sign-in set.
'use strict';
(function () {
  const y = window.yeyak;
  const KEY = 'yeyak_agent_person';
  const text = y.text;
  const $ = (id) => document.getElementById(id);

  function current() {
    try { return JSON.parse(sessionStorage.getItem(KEY) || 'null'); } catch (e) { return null; }
  }
  function remember(person) { sessionStorage.setItem(KEY, JSON.stringify(person)); }

  // Text in Korea time, whatever the browser's zone.
  function instant(iso) {
    const at = new Intl.DateTimeFormat(y.lang === 'en' ? 'en-GB' : 'ko-KR', {
      timeZone: 'Asia/Seoul', dateStyle: 'full', timeStyle: 'short',
    }).format(new Date(iso));
    return text('agent.in_korea_time', { at });
  }
  function band(hour) {
    const two = (n) => String(n).padStart(2, '0');
    return two(hour) + ':00–' + two(hour + 1) + ':00';
  }
  function say(message) { $('done').textContent = message; }
  let placeTimer = null; // the next refresh of the caller's place in the queue

  // Every call for the person: their token as a bearer header, the agent's cookie alongside.
  // A call that books, changes or cancels goes through a keyed sender (y.keyedSender).
  async function call(method, path, body, send) {
    const person = current();
    const headers = { authorization: 'Bearer ' + (person ? person.token : '') };
    const result = await (send || y.api)(method, path, body, headers);
    const code = result.body && result.body.error;
    // The agent's sign-in is gone (revoked, expired, or a clinic token): sign in again.
    if (code === 'staff_token_required' || code === 'staff_token_invalid' || code === 'wrong_role') {
      location.href = '/agent/login';
      return null;
    }
    // The person's token expired: identify them again.
    if (code === 'unauthenticated') {
      clearPerson();
      y.showError(result.body);
      return null;
    }
    return result;
  }

  function clearPerson() {
    clearTimeout(placeTimer);
    sessionStorage.removeItem(KEY);
    $('person').hidden = true;
    $('identify-section').hidden = false;
    $('bookings').replaceChildren();
    stopChange();
    say('');
  }

  async function showPerson() {
    const person = current();
    if (!person) { clearPerson(); return; }
    $('identify-section').hidden = true;
    $('person').hidden = false;
    $('person-rrn').textContent = person.rrn;
    $('person-birth').textContent = person.birth_date;
    const result = await call('GET', '/api/v1/agent/eligibility');
    if (!result) return;
    if (result.status !== 200) { y.showError(result.body); return; }
    const d = result.body;
    const answer = $('eligibility');
    answer.textContent = y.message(d);
    answer.className = 'answer ' + (d.eligible ? 'ok' : d.code === 'not_yet' ? 'wait' : 'no');
    const at = d.opens_at || d.closes_at;
    $('window').hidden = !at;
    if (at) {
      $('window-l').textContent = d.opens_at ? text('agent.booking_opens') : text('agent.booking_closes');
      $('window-at').textContent = instant(at);
    }
    await showPlace();
    await showBookings();
  }

  // The caller's place in the same queue as everyone (the same on every reload of this desk);
  // during an opening, booking for them waits until it comes up. Refreshed as the server says.
  async function showPlace() {
    clearTimeout(placeTimer);
    const result = await call('POST', '/api/v1/agent/queue', {});
    const box = $('queue-place');
    if (!result || result.status !== 200) { box.hidden = true; return; }
    const q = result.body;
    box.hidden = false;
    if (q.state === 'admitted') {
      box.textContent = text('agent.turn_came');
      return;
    }
    if (q.state === 'before_opening') {
      box.textContent = text('agent.queued_before_opening', { at: instant(q.opens_at) });
    } else {
      box.textContent = text('agent.queue_place', { number: q.number, ahead: q.people_ahead_eligible });
    }
    placeTimer = setTimeout(showPlace, Math.max(1000, q.poll_after_ms || 5000));
  }

  async function showBookings() {
    const result = await call('GET', '/api/v1/agent/bookings');
    if (!result) return;
    if (result.status !== 200) { y.showError(result.body); return; }
    const list = $('bookings');
    list.replaceChildren();
    for (const b of result.body.bookings) list.appendChild(card(b));
    if (result.body.bookings.length === 0) {
      const none = document.createElement('li');
      none.textContent = text('agent.no_bookings');
      list.appendChild(none);
    }
  }

  // One booking: its vaccine and status, each dose, and change / cancel while it is active.
  function card(b) {
    const li = document.createElement('li');
    li.className = 'card';
    li.id = 'booking-' + b.id;
    const h = document.createElement('h4');
    h.textContent = (y.lang === 'en' ? b.product.name_en : b.product.name_ko) + ' · ' +
      (b.active ? text('agent.booking_active') : text('agent.booking_cancelled'));
    li.appendChild(h);
    const dl = document.createElement('dl');
    dl.className = 'facts';
    for (const dose of b.doses) {
      const dt = document.createElement('dt');
      dt.textContent = text('agent.dose', { n: dose.dose });
      const dd = document.createElement('dd');
      dd.className = 'dose' + dose.dose;
      const state = dose.status === 'given' ? ' ' + text('agent.dose_given') : dose.status === 'cancelled' ? ' ' + text('agent.dose_cancelled') : '';
      dd.textContent = dose.date + ' ' + band(dose.hour) + ' · ' + (dose.clinic.name || '') + state;
      dl.append(dt, dd);
    }
    li.appendChild(dl);
    if (b.active) {
      const actions = document.createElement('p');
      actions.className = 'actions';
      const change = document.createElement('button');
      change.type = 'button';
      change.className = 'button secondary';
      change.dataset.change = b.id;
      change.textContent = text('agent.change');
      change.addEventListener('click', () => startChange(b.id));
      const cancel = document.createElement('button');
      cancel.type = 'button';
      cancel.className = 'button danger';
      cancel.dataset.cancel = b.id;
      cancel.textContent = text('agent.cancel');
      const sendCancel = y.keyedSender();
      cancel.addEventListener('click', async () => {
        if (!window.confirm(text('agent.cancel_confirm'))) return;
        y.clearError();
        cancel.disabled = true;
        const result = await call('POST', '/api/v1/agent/bookings/' + b.id + '/cancel', undefined, sendCancel);
        cancel.disabled = false;
        if (!result) return;
        if (result.status !== 200) { y.showError(result.body); return; }
        // Refresh first, then announce: the message means the list already shows the change.
        await showPerson();
        say(text('agent.cancelled'));
      });
      actions.append(change, cancel);
      li.appendChild(actions);
    }
    return li;
  }

  // Changing a booking uses the same form; it is remembered across a region search.
  function startChange(id) {
    const person = current();
    person.change = id;
    remember(person);
    showChange();
    $('province').focus();
  }
  function showChange() {
    const person = current();
    const id = person && person.change;
    $('change-note').hidden = !id;
    $('change-stop').hidden = !id;
    $('change-note').textContent = id ? text('agent.changing') : '';
    $('book-submit').textContent = id ? text('agent.change_submit') : text('agent.book_submit');
  }
  function stopChange() {
    const person = current();
    if (person) { delete person.change; remember(person); }
    showChange();
  }
  $('change-stop').addEventListener('click', stopChange);

  $('identify').addEventListener('submit', async (event) => {
    event.preventDefault();
    y.clearError();
    const form = event.target;
    if (!$('id-checked').checked) {
      y.showError({ message: text('agent.id_not_checked') });
      return;
    }
    const body = { name: $('name').value.trim(), rrn: $('rrn').value.trim(), phone: $('phone').value.trim() };
    const result = await y.api('POST', '/api/v1/agent/identify', body);
    const code = result.body && result.body.error;
    if (code === 'staff_token_required' || code === 'staff_token_invalid' || code === 'wrong_role') { location.href = '/agent/login'; return; }
    if (result.status !== 200) { y.showError(result.body); return; }
    // The registration number leaves the page once it is sent.
    form.reset();
    remember({ token: result.body.person_token, rrn: result.body.person.rrn, birth_date: result.body.person.birth_date });
    await showPerson();
    $('person-h').focus();
  });

  $('next-person').addEventListener('click', () => {
    y.clearError();
    clearPerson();
    $('name').focus();
  });

  // A new province or vaccine searches again (the page reloads; the person stays in this tab).
  $('province').addEventListener('change', () => { $('municipality').value = ''; $('region').submit(); });
  $('municipality').addEventListener('change', () => $('region').submit());
  $('product').addEventListener('change', () => $('region').submit());

  // Booking: the clinic and day come from the list above (places left per day), the band from
  // the form's choices (places left per band, kept fresh). A band that filled in the meantime
  // brings the API's nearest free bands, one tap from booking, as on the citizen's page.
  const book = $('book');
  const send = y.keyedSender();
  y.keepBandsFresh(book, 10000);
  async function submit(choice) {
    y.clearError();
    say('');
    const body = { clinic_id: Number(choice.clinic), date: choice.date, hour: Number(choice.hour), product: book.dataset.product };
    const person = current();
    const change = person && person.change;
    const buttons = document.querySelectorAll('#book-submit, #offers button');
    buttons.forEach((b) => { b.disabled = true; });
    const result = change
      ? await call('POST', '/api/v1/agent/bookings/' + change + '/change', body, send)
      : await call('POST', '/api/v1/agent/bookings', body, send);
    buttons.forEach((b) => { b.disabled = false; });
    if (!result) return;
    const code = result.body && result.body.error;
    if (code === 'slot_full' && result.body.detail) {
      y.offerBands(book, result.body.detail.alternatives || [], (a) => submit({ clinic: a.clinic_id, date: a.date, hour: a.hour }));
      y.refreshBands(book);
      return;
    }
    if (result.status !== 200 && result.status !== 201) { y.showError(result.body); return; }
    $('filled').hidden = true;
    y.refreshBands(book);
    stopChange();
    await showPerson();
    say(change ? text('agent.changed') : text('agent.booked'));
  }
  book.addEventListener('submit', (event) => {
    event.preventDefault();
    const hour = book.querySelector('input[name="hour"]:checked');
    if (!book.dataset.clinic || !hour) {
      y.clearError();
      y.showError({ message: text('agent.choose_clinic_and_time') });
      return;
    }
    submit({ clinic: book.dataset.clinic, date: book.dataset.date, hour: hour.value });
  });

  if (current()) { showChange(); showPerson(); }
})();
