// Shared by every page script: the page language and texts, JSON API calls with the browser's
// cookies, idempotency keys and error display. No libraries; nothing leaves this origin.
'use strict';
(function () {
  const lang = document.documentElement.lang === 'en' ? 'en' : 'ko';

  // The texts the scripts show hold no strings of their own: the page carries, in its language,
  // the texts of this script and its own (the catalogue's text/scripts.rs) in a JSON data block.
  const texts = (() => {
    const block = document.getElementById('yeyak-texts');
    try { return block ? JSON.parse(block.textContent) : {}; } catch (e) { return {}; }
  })();

  // The text under `key`, with each {name} filled from `values`. A key the page did not carry
  // shows as itself (a test checks that every key the scripts ask for is in the catalogue).
  function text(key, values) {
    let s = Object.prototype.hasOwnProperty.call(texts, key) ? texts[key] : key;
    for (const name in values || {}) s = s.split('{' + name + '}').join(String(values[name]));
    return s;
  }

  // A random key per request, so a retried request is the same request to the server.
  function idempotencyKey() {
    const bytes = new Uint8Array(16);
    crypto.getRandomValues(bytes);
    return Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('');
  }

  // The one way pages send a request that books, changes, cancels or claims. The server records
  // every definite answer (201, 200, 409, …) under the request's Idempotency-Key and refuses a
  // different request with that key (422 idempotency_key_reused), so the key is renewed after
  // any definite answer and kept only to retry the very same request after 503 (busy) or a
  // lost answer (status 0), where it makes the retry harmless. A different request after a lost
  // answer gets a new key as well. Returns send(method, path, body, headers) → api's answer.
  function keyedSender() {
    let pending = null; // {request, key} while the last answer was not definite
    return async function send(method, path, body, headers) {
      const request = method + ' ' + path + ' ' + JSON.stringify(body === undefined ? null : body);
      if (!pending || pending.request !== request) pending = { request, key: idempotencyKey() };
      const result = await api(method, path, body, Object.assign({}, headers || {}, { 'Idempotency-Key': pending.key }));
      if (result.status !== 503 && result.status !== 0) pending = null;
      return result;
    };
  }

  // Calls the JSON API. Cookies go along (same origin); the answer is {status, body, retryAfter}.
  async function api(method, path, body, headers) {
    const init = { method, credentials: 'same-origin', headers: Object.assign({ accept: 'application/json' }, headers || {}) };
    if (body !== undefined) {
      init.headers['content-type'] = 'application/json';
      init.body = JSON.stringify(body);
    }
    let response;
    try {
      response = await fetch(path, init);
    } catch (e) {
      return { status: 0, body: { message: text('common.no_connection') } };
    }
    let parsed = null;
    try { parsed = await response.json(); } catch (e) { parsed = null; }
    const retry = Number(response.headers.get('retry-after') || 0);
    return { status: response.status, body: parsed, retryAfter: retry };
  }

  function message(body) {
    if (!body) return text('common.went_wrong');
    return (lang === 'en' ? body.message_en : body.message_ko) || body.message || '';
  }

  // Shows an API error in the page's alert box and moves focus there for screen readers.
  function showError(body) {
    const box = document.getElementById('error');
    if (!box) return;
    box.textContent = message(body);
    box.hidden = false;
    box.focus();
  }

  function clearError() {
    const box = document.getElementById('error');
    if (box) { box.hidden = true; box.textContent = ''; }
  }

  // Follows the API's pointers: no pass → waiting room, no identity → identity check.
  function redirectFor(result) {
    const code = result.body && result.body.error;
    if (code === 'pass_required' || code === 'token_expired' || code === 'token_wrong_queue') { location.href = '/wait'; return true; }
    if (code === 'unauthenticated') { location.href = '/identity'; return true; }
    return false;
  }

  // A civil date ("2021-08-17") as the page's language writes it, whatever the browser's zone.
  function dayText(date) {
    return new Intl.DateTimeFormat(lang === 'en' ? 'en-GB' : 'ko-KR', {
      timeZone: 'UTC', weekday: 'short', month: 'long', day: 'numeric',
    }).format(new Date(date + 'T00:00:00Z'));
  }

  // A band that filled before the booking: shows the page's #filled section with the API's
  // nearest free bands (the 409 slot_full answer's detail.alternatives) as buttons, the chosen
  // clinic's first, and calls pick(alternative) when one is tapped. `form` holds the clinic.
  function offerBands(form, alternatives, pick) {
    const list = document.getElementById('offers');
    list.replaceChildren();
    for (const a of alternatives) {
      const button = document.createElement('button');
      button.type = 'button';
      button.className = 'button secondary offer';
      button.dataset.clinic = a.clinic_id;
      button.dataset.date = a.date;
      button.dataset.hour = a.hour;
      let label = dayText(a.date) + ' ' + a.label;
      if (String(a.clinic_id) !== form.dataset.clinic) label += ' · ' + a.clinic_name + ' (' + a.distance_km.toFixed(1) + ' km)';
      button.textContent = label + ' · ' + placesText(a.remaining);
      button.addEventListener('click', () => pick(a));
      const li = document.createElement('li');
      li.appendChild(button);
      list.appendChild(li);
    }
    document.getElementById('no-offers').hidden = alternatives.length > 0;
    document.getElementById('filled').hidden = false;
    document.getElementById('filled-h').focus();
  }

  function placesText(n) {
    return n > 0 ? text('common.places_left', { n }) : text('common.places_full');
  }

  // Rereads the places left in each band of the form's clinic and day (the public clinic API,
  // from memory): a band that filled is disabled, and if it was the chosen one the person is
  // told in #bands-status (politely, not as an alert).
  async function refreshBands(form) {
    if (!form.dataset.clinic || !form.dataset.date) return;
    const answer = await api('GET', '/api/v1/clinics/' + form.dataset.clinic + '?date=' + form.dataset.date);
    if (answer.status !== 200) return;
    for (const band of answer.body.bands) {
      const input = form.querySelector('input[name="hour"][value="' + band.hour + '"]');
      if (!input) continue;
      const left = Number(band.remaining[form.dataset.product] || 0);
      input.closest('label').querySelector('small').textContent = placesText(left);
      input.disabled = left === 0;
      if (left === 0 && input.checked) {
        input.checked = false;
        document.getElementById('bands-status').textContent = text('common.chosen_filled', { band: band.label });
      }
    }
  }

  // Keeps the places left fresh every `ms` while the page is in view.
  function keepBandsFresh(form, ms) {
    let timer = setInterval(() => refreshBands(form), ms);
    document.addEventListener('visibilitychange', () => {
      clearInterval(timer);
      if (!document.hidden) { refreshBands(form); timer = setInterval(() => refreshBands(form), ms); }
    });
  }

  window.yeyak = { lang, text, api, keyedSender, message, showError, clearError, redirectFor, offerBands, refreshBands, keepBandsFresh };
})();
