// api.js — JSON calls to the panel API. Every state-changing call echoes the session's
// CSRF token (from the readable concierge_csrf cookie) in X-CSRF-Token.

export function csrf() {
  const m = document.cookie.match(/(?:^|;\s*)concierge_csrf=([^;]+)/);
  return m ? decodeURIComponent(m[1]) : '';
}

export class APIError extends Error {
  constructor(status, message) { super(message); this.status = status; }
}

export async function api(method, path, body) {
  const opts = { method, headers: { Accept: 'application/json' }, credentials: 'same-origin' };
  if (method !== 'GET') opts.headers['X-CSRF-Token'] = csrf();
  if (body !== undefined) {
    opts.headers['Content-Type'] = 'application/json';
    opts.body = JSON.stringify(body);
  }
  const res = await fetch('/agent/api/' + path, opts);
  if (res.status === 401) {
    location.href = '/login?next=' + encodeURIComponent(location.pathname + location.hash);
    throw new APIError(401, 'signed out');
  }
  const data = await res.json().catch(() => ({}));
  if (!res.ok) throw new APIError(res.status, data.error || res.statusText);
  return data;
}

export async function logout() {
  await fetch('/logout', { method: 'POST', headers: { 'X-CSRF-Token': csrf(), Accept: 'application/json' }, credentials: 'same-origin' });
  location.href = '/login';
}
