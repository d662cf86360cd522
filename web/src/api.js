// The API as the app calls it: same origin, the session cookie (HttpOnly, never read here) and,
// for writes, the CSRF token from the readable `sluice_csrf` cookie in `X-CSRF-Token`. The app
// never holds an API token.

export class ApiError extends Error {
  constructor(status, body) {
    const err = body && body.error ? body.error : {};
    super(err.message || `HTTP ${status}`);
    this.status = status;
    this.code = err.code || '';
    this.body = body;
  }
}

function csrf() {
  for (const part of document.cookie.split(';')) {
    const [k, ...v] = part.trim().split('=');
    if (k === 'sluice_csrf') return v.join('=');
  }
  return '';
}

/** A path of this site to go back to after signing in, or `/processes` (no other site). */
export function safeNext(next) {
  if (typeof next !== 'string' || !next.startsWith('/') || next.startsWith('//') || next.startsWith('/\\')) {
    return '/processes';
  }
  if (/[\u0000-\u001f\u007f]/.test(next) || next.startsWith('/login')) return '/processes';
  return next;
}

export function toLogin() {
  const next = location.pathname + location.search;
  location.assign(`/login?next=${encodeURIComponent(safeNext(next))}`);
}

/**
 * Calls the API. `body`: an object (sent as JSON) or a string with `contentType`.
 * Answers the parsed JSON (or null for 204); throws ApiError. A 401 on a page other than the
 * sign-in page goes to the sign-in page.
 */
export async function api(method, path, body, contentType) {
  const headers = { Accept: 'application/json' };
  let payload;
  if (body !== undefined) {
    if (typeof body === 'string') {
      payload = body;
      headers['Content-Type'] = contentType || 'text/plain';
    } else {
      payload = JSON.stringify(body);
      headers['Content-Type'] = 'application/json';
    }
  }
  if (method !== 'GET') headers['X-CSRF-Token'] = csrf();
  const resp = await fetch(path, { method, headers, body: payload, credentials: 'same-origin' });
  const text = await resp.text();
  let json = null;
  if (text) {
    try {
      json = JSON.parse(text);
    } catch {
      json = null;
    }
  }
  if (resp.status === 401 && location.pathname !== '/login') {
    toLogin();
  }
  if (!resp.ok) throw new ApiError(resp.status, json);
  return json;
}
