// Shared by every page script: the page language, JSON API calls with the browser's cookies,
// idempotency keys and error display. No libraries; nothing leaves this origin.
'use strict';
(function () {
  const lang = document.documentElement.lang === 'en' ? 'en' : 'ko';

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
      return { status: 0, body: { message_ko: '연결이 끊겼습니다. 다시 시도해 주세요.', message_en: 'No connection. Please try again.' } };
    }
    let parsed = null;
    try { parsed = await response.json(); } catch (e) { parsed = null; }
    const retry = Number(response.headers.get('retry-after') || 0);
    return { status: response.status, body: parsed, retryAfter: retry };
  }

  function message(body) {
    if (!body) return lang === 'en' ? 'Something went wrong.' : '문제가 생겼습니다.';
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

  window.yeyak = { lang, api, keyedSender, message, showError, clearError, redirectFor };
})();
