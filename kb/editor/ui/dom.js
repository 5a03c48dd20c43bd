// dom.js — building elements. Text always goes in as textContent; the only HTML the
// editor inserts is what the server rendered and sanitised (previews, snippets).
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v == null || v === false) continue;
    if (k.startsWith('on')) el.addEventListener(k.slice(2), v);
    else if (k === 'class') el.className = v;
    else if (k === 'dataset') Object.assign(el.dataset, v);
    else if (k === 'value') el.value = v;
    else if (k === 'checked') el.checked = !!v;
    else el.setAttribute(k, v === true ? '' : v);
  }
  for (const c of children.flat()) {
    if (c == null || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return el;
}

// sanitizedHTML puts server-rendered, server-sanitised HTML into el.
export function sanitizedHTML(el, html) {
  el.innerHTML = html; // from /api/kb/preview or a search snippet: bluemonday-cleaned on the server
  return el;
}

export function fmtDate(s) {
  if (!s) return '';
  const d = new Date(s);
  return d.toLocaleString(undefined, { year: 'numeric', month: 'short', day: 'numeric', hour: '2-digit', minute: '2-digit' });
}

export function debounce(fn, ms) {
  let timer;
  return (...args) => { clearTimeout(timer); timer = setTimeout(() => fn(...args), ms); };
}
