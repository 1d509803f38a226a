// Shared by every page script: the page language, JSON API calls with the browser's cookies,
// idempotency keys and error display. No libraries; nothing leaves this origin.
'use strict';
(function () {
  const lang = document.documentElement.lang === 'en' ? 'en' : 'ko';

  // A random key per action, so a retried request is the same request to the server.
  function idempotencyKey() {
    const bytes = new Uint8Array(16);
    crypto.getRandomValues(bytes);
    return Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('');
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

  window.yeyak = { lang, api, idempotencyKey, message, showError, clearError, redirectFor };
})();
