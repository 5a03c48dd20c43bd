// api.js — the editor's calls to /api/kb/. Every state change is JSON (the server refuses
// anything else, which keeps cross-site forms out).
export class APIError extends Error {
  constructor(status, body) {
    super(body && body.error ? body.error : `HTTP ${status}`);
    this.status = status;
    this.body = body || {};
  }
}

async function call(method, path, body) {
  const opts = { method, headers: { Accept: 'application/json' }, credentials: 'same-origin' };
  if (body !== undefined) {
    opts.headers['Content-Type'] = 'application/json';
    opts.body = JSON.stringify(body);
  }
  const res = await fetch(path, opts);
  if (res.status === 204) return null;
  let data = null;
  try { data = await res.json(); } catch { /* not JSON */ }
  if (!res.ok) throw new APIError(res.status, data);
  return data;
}

const enc = encodeURIComponent;
const qs = (params) => {
  const p = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v !== '' && v != null && v !== false) p.set(k, v === true ? '1' : v);
  const s = p.toString();
  return s ? `?${s}` : '';
};

export const api = {
  me: () => call('GET', '/api/kb/me'),
  list: (f) => call('GET', `/api/kb/articles${qs(f)}`),
  get: (id) => call('GET', `/api/kb/articles/${enc(id)}`),
  create: (a) => call('POST', '/api/kb/articles', a),
  update: (id, a) => call('PUT', `/api/kb/articles/${enc(id)}`, a),
  remove: (id) => call('DELETE', `/api/kb/articles/${enc(id)}`),
  publish: (id) => call('POST', `/api/kb/articles/${enc(id)}/publish`, {}),
  unpublish: (id) => call('POST', `/api/kb/articles/${enc(id)}/unpublish`, {}),
  versions: (id) => call('GET', `/api/kb/articles/${enc(id)}/versions`),
  version: (id, n) => call('GET', `/api/kb/articles/${enc(id)}/versions/${n}`),
  restore: (id, n) => call('POST', `/api/kb/articles/${enc(id)}/versions/${n}/restore`, {}),
  diff: (id, from, to) => call('GET', `/api/kb/articles/${enc(id)}/diff${qs({ from, to })}`),
  preview: (markdown) => call('POST', '/api/kb/preview', { markdown }),
  search: (q) => call('GET', `/api/kb/search${qs(q)}`),
  gaps: (days) => call('GET', `/api/kb/gaps${qs({ days })}`),
  importFiles: (files) => call('POST', '/api/kb/import', { files }),
};
