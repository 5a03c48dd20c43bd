// app.js — the knowledge-base editor: a small hash-routed app over /api/kb/.
import { api, APIError } from './api.js';
import { h, sanitizedHTML, fmtDate, debounce } from './dom.js';
import { t, setLang, getLang } from './i18n.js';

const view = document.getElementById('view');
const flashEl = document.getElementById('flash');
let dirty = false; // unsaved edits in the article form

function flash(msg, kind = 'ok') {
  flashEl.textContent = msg;
  flashEl.className = `flash ${kind}`;
  flashEl.hidden = false;
  clearTimeout(flash.timer);
  if (kind === 'ok') flash.timer = setTimeout(() => { flashEl.hidden = true; }, 6000);
}

function showError(err) {
  const field = err instanceof APIError && err.body.field ? ` (${err.body.field})` : '';
  flash(t('error', { msg: err.message + field }), 'error');
}

function translateStatic() {
  for (const el of document.querySelectorAll('[data-i18n]')) el.textContent = t(el.dataset.i18n);
  document.documentElement.lang = getLang();
}

function setNav(name) {
  for (const a of document.querySelectorAll('[data-nav]')) a.classList.toggle('active', a.dataset.nav === name);
}

// ---- routing -------------------------------------------------------------------------

const routes = [
  [/^#?\/?$/, () => listView()],
  [/^#\/new$/, () => editView(null)],
  [/^#\/edit\/(.+)$/, (m) => editView(decodeURIComponent(m[1]))],
  [/^#\/history\/(.+)$/, (m) => historyView(decodeURIComponent(m[1]))],
  [/^#\/gaps$/, () => gapsView()],
  [/^#\/try$/, () => tryView()],
];

async function route() {
  if (dirty && !confirm(t('edit.unsaved') + ' — ok?')) return;
  dirty = false;
  flashEl.hidden = true;
  const hash = location.hash || '#/';
  for (const [re, fn] of routes) {
    const m = hash.match(re);
    if (m) {
      try { await fn(m); } catch (err) { showError(err); }
      return;
    }
  }
  location.hash = '#/';
}

window.addEventListener('hashchange', route);
window.addEventListener('beforeunload', (e) => { if (dirty) e.preventDefault(); });

function statusBadge(s) {
  return h('span', { class: `badge ${s}` }, t(`status.${s}`));
}

// ---- article list --------------------------------------------------------------------

const listState = { q: '', lang: '', status: '', tag: '', deleted: false };

async function listView() {
  setNav('list');
  const search = h('input', { id: 'list-q', type: 'search', placeholder: t('list.search'), value: listState.q });
  const lang = h('select', { id: 'list-lang' }, h('option', { value: '' }, t('list.allLangs')),
    ...['en', 'zh', 'ja', 'ko', 'es', 'fr', 'de'].map((l) => h('option', { value: l }, l)));
  lang.value = listState.lang;
  const status = h('select', { id: 'list-status' }, h('option', { value: '' }, t('list.allStatus')),
    h('option', { value: 'draft' }, t('status.draft')), h('option', { value: 'published' }, t('status.published')));
  status.value = listState.status;
  const tag = h('input', { id: 'list-tag', placeholder: t('list.tag'), value: listState.tag, size: 10 });
  const trash = h('input', { id: 'list-trash', type: 'checkbox', checked: listState.deleted });
  const fileInput = h('input', { id: 'import-files', type: 'file', accept: '.md,text/markdown', multiple: true, hidden: true });
  const table = h('table', { class: 'list', id: 'articles' });
  const count = h('span', { class: 'muted', id: 'list-count' });

  const load = async () => {
    Object.assign(listState, { q: search.value, lang: lang.value, status: status.value, tag: tag.value, deleted: trash.checked });
    const res = await api.list({ q: listState.q, lang: listState.lang, status: listState.status, tag: listState.tag,
      deleted: listState.deleted, limit: 500 });
    table.replaceChildren(h('thead', {}, h('tr', {},
      h('th', {}, t('col.title')), h('th', {}, t('col.lang')), h('th', {}, t('col.status')), h('th', {}, t('col.tags')),
      h('th', { class: 'num' }, t('col.views')), h('th', { class: 'num' }, t('col.votes')), h('th', {}, t('col.updated')))));
    const body = h('tbody');
    for (const a of res.articles) {
      const title = listState.deleted
        ? h('span', {}, a.title, ' ', h('button', { class: 'small', onclick: () => undelete(a) }, t('hist.restore')))
        : h('a', { href: `#/edit/${encodeURIComponent(a.id)}`, class: 'title' }, a.title);
      const titleCell = h('td', {}, title, h('div', { class: 'muted id' }, a.id));
      if (a.snippet) titleCell.append(sanitizedHTML(h('div', { class: 'snippet' }), a.snippet));
      body.append(h('tr', { dataset: { id: a.id } }, titleCell, h('td', {}, a.lang), h('td', {}, statusBadge(a.status)),
        h('td', {}, (a.tags || []).join(', ')), h('td', { class: 'num' }, a.stats.views),
        h('td', { class: 'num' }, `${a.stats.helpful} / ${a.stats.helpful + a.stats.not_helpful}`),
        h('td', { class: 'muted' }, fmtDate(a.updated_at))));
    }
    if (!res.articles.length) body.append(h('tr', {}, h('td', { colspan: 7, class: 'muted' }, t('list.empty'))));
    table.append(body);
    count.textContent = `${res.total}`;
  };
  const undelete = async (a) => {
    try {
      const vs = await api.versions(a.id);
      const last = vs.versions.find((v) => v.action !== 'delete');
      await api.restore(a.id, last.version);
      await load();
    } catch (err) { showError(err); }
  };
  const reload = debounce(() => load().catch(showError), 250);
  search.addEventListener('input', reload);
  tag.addEventListener('input', reload);
  for (const el of [lang, status, trash]) el.addEventListener('change', reload);
  fileInput.addEventListener('change', async () => {
    const files = await Promise.all([...fileInput.files].map(async (f) => ({ name: f.name, content: await f.text() })));
    fileInput.value = '';
    try {
      const rep = await api.importFiles(files);
      flash(t('import.done', { c: rep.created ? rep.created.length : 0, u: rep.updated ? rep.updated.length : 0,
        n: rep.unchanged ? rep.unchanged.length : 0 }));
      await load();
    } catch (err) {
      if (err instanceof APIError && err.body.errors) flash(`${t('import.failed')} ${err.body.errors.join(' · ')}`, 'error');
      else showError(err);
    }
  });

  view.replaceChildren(
    h('div', { class: 'bar' }, h('h1', {}, t('list.title'), ' ', count),
      h('a', { class: 'button primary', href: '#/new', id: 'new-article' }, t('list.new')),
      h('button', { onclick: () => fileInput.click() }, t('list.import')), fileInput),
    h('div', { class: 'filters' }, search, lang, status, tag, h('label', {}, trash, ' ', t('list.trash'))),
    table);
  search.focus();
  await load();
}

// ---- editing -------------------------------------------------------------------------

function detailRow(d = {}) {
  const row = h('div', { class: 'detail' },
    h('input', { class: 'd-name', placeholder: t('detail.name'), value: d.name || '', size: 14 }),
    h('input', { class: 'd-en', placeholder: t('detail.promptEn'), value: (d.prompt && d.prompt.en) || '' }),
    h('input', { class: 'd-zh', placeholder: t('detail.promptZh'), value: (d.prompt && d.prompt.zh) || '' }),
    h('input', { class: 'd-pattern', placeholder: t('detail.pattern'), value: d.pattern || '', size: 14 }),
    h('input', { class: 'd-example', placeholder: t('detail.example'), value: d.example || '', size: 12 }));
  row.append(h('button', { type: 'button', class: 'small', onclick: () => { row.remove(); dirty = true; } }, t('detail.remove')));
  row._other = Object.fromEntries(Object.entries((d && d.prompt) || {}).filter(([k]) => k !== 'en' && k !== 'zh'));
  return row;
}

function readDetails(box) {
  return [...box.querySelectorAll('.detail')].map((row) => {
    const prompt = { ...row._other };
    const en = row.querySelector('.d-en').value.trim();
    const zh = row.querySelector('.d-zh').value.trim();
    if (en) prompt.en = en;
    if (zh) prompt.zh = zh;
    return { name: row.querySelector('.d-name').value.trim(), prompt, pattern: row.querySelector('.d-pattern').value.trim(),
      example: row.querySelector('.d-example').value.trim() };
  }).filter((d) => d.name || Object.keys(d.prompt).length);
}

function slugify(s) {
  return s.toLowerCase().normalize('NFKD').replace(/[^\w\s-]/g, '').trim().replace(/[\s_]+/g, '-').replace(/-+/g, '-').slice(0, 80);
}

async function editView(id) {
  setNav('list');
  let a;
  if (id) {
    a = await api.get(id);
  } else {
    const prefill = JSON.parse(sessionStorage.getItem('kb.prefill') || 'null') || {};
    sessionStorage.removeItem('kb.prefill');
    a = { id: '', title: prefill.title || '', lang: prefill.lang || getLang(), team: '', tags: [], questions: prefill.questions || [],
      details: [], escalate: false, status: 'draft', body: '', version: 0 };
  }
  const f = {
    title: h('input', { id: 'f-title', value: a.title, required: true, maxlength: 300 }),
    id: h('input', { id: 'f-id', value: a.id, readonly: !!id, pattern: '[A-Za-z0-9][A-Za-z0-9._-]*', maxlength: 128 }),
    lang: h('input', { id: 'f-lang', value: a.lang, size: 6, list: 'langs' }),
    team: h('select', { id: 'f-team' }, ...['', 'general', 'billing', 'technical', 'security'].map((v) => h('option', { value: v }, v || '—'))),
    tags: h('input', { id: 'f-tags', value: (a.tags || []).join(', ') }),
    escalate: h('input', { id: 'f-escalate', type: 'checkbox', checked: a.escalate }),
    questions: h('textarea', { id: 'f-questions', rows: 6 }),
    body: h('textarea', { id: 'f-body', rows: 18, spellcheck: true }),
  };
  if (a.team && ![...f.team.options].some((o) => o.value === a.team)) f.team.append(h('option', { value: a.team }, a.team));
  f.team.value = a.team || '';
  f.questions.value = (a.questions || []).join('\n');
  f.body.value = a.body || '';
  const details = h('div', { id: 'f-details' }, ...(a.details || []).map(detailRow));
  const preview = h('div', { id: 'preview', class: 'preview body' });
  const state = h('span', { id: 'state' });
  let current = a;

  const renderState = () => {
    state.replaceChildren(statusBadge(current.status), ' ',
      current.version ? h('span', { class: 'muted' }, t('edit.version', { v: current.version })) : '',
      current.version ? h('span', { class: 'muted stats' }, ' · ', t('edit.stats', { views: current.stats.views,
        yes: current.stats.helpful, no: current.stats.not_helpful })) : '');
    publishBtn.hidden = !current.version || current.status === 'published';
    unpublishBtn.hidden = !current.version || current.status !== 'published';
    deleteBtn.hidden = historyBtn.hidden = downloadBtn.hidden = !current.version;
    historyBtn.href = `#/history/${encodeURIComponent(current.id)}`;
    downloadBtn.href = `/api/kb/articles/${encodeURIComponent(current.id)}/export`;
  };
  const updatePreview = debounce(async () => {
    try { sanitizedHTML(preview, (await api.preview(f.body.value)).html); } catch (err) { showError(err); }
  }, 200);
  const collect = () => ({
    id: f.id.value.trim(), title: f.title.value.trim(), lang: f.lang.value.trim(), team: f.team.value,
    tags: f.tags.value.split(',').map((s) => s.trim()).filter(Boolean),
    questions: f.questions.value.split('\n').map((s) => s.trim()).filter(Boolean),
    details: readDetails(details), escalate: f.escalate.checked, body: f.body.value,
    status: current.status, version: current.version,
  });
  const save = async (status) => {
    const input = collect();
    if (status) input.status = status;
    try {
      const saved = current.version ? await api.update(current.id, input) : await api.create(input);
      const wasNew = !current.version;
      current = saved;
      dirty = false;
      renderState();
      flash(status === 'published' ? t('edit.published') : t('edit.saved', { v: saved.version }));
      if (wasNew) {
        history.replaceState(null, '', `#/edit/${encodeURIComponent(saved.id)}`);
        f.id.readOnly = true;
      }
    } catch (err) {
      if (err instanceof APIError && err.status === 409) {
        const latest = await api.get(current.id).catch(() => null);
        flash(t('edit.conflict', { v: latest ? latest.version : '?' }), 'error');
      } else if (err instanceof APIError && err.body.field) {
        showError(err);
        const el = f[err.body.field.replace(/\[.*/, '')] || (err.body.field.startsWith('details') ? details : null);
        if (el) el.focus && el.focus();
      } else showError(err);
    }
  };

  const saveBtn = h('button', { class: 'primary', id: 'save', type: 'submit' }, t('edit.save'));
  const publishBtn = h('button', { id: 'publish', type: 'button', onclick: () => (dirty ? save('published') :
    api.publish(current.id).then((s) => { current = s; renderState(); flash(t('edit.published')); }).catch(showError)) }, t('edit.publish'));
  const unpublishBtn = h('button', { id: 'unpublish', type: 'button', onclick: () => api.unpublish(current.id)
    .then((s) => { current = s; renderState(); flash(t('edit.unpublished')); }).catch(showError) }, t('edit.unpublish'));
  const historyBtn = h('a', { class: 'button', id: 'history' }, t('edit.history'));
  const downloadBtn = h('a', { class: 'button', id: 'download' }, t('edit.download'));
  const deleteBtn = h('button', { id: 'delete', type: 'button', class: 'danger', onclick: async () => {
    if (!confirm(t('edit.confirmDelete'))) return;
    try { await api.remove(current.id); dirty = false; flash(t('edit.deleted')); location.hash = '#/'; } catch (err) { showError(err); }
  } }, t('edit.delete'));

  const form = h('form', { id: 'article-form', class: 'edit', onsubmit: (e) => { e.preventDefault(); save(); } },
    h('div', { class: 'bar' }, h('h1', {}, id ? a.title : t('edit.new')), state),
    h('div', { class: 'grid' },
      h('label', { class: 'wide' }, t('edit.title'), f.title),
      h('label', {}, t('edit.id'), f.id),
      h('label', {}, t('edit.lang'), f.lang,
        h('datalist', { id: 'langs' }, ...['en', 'zh', 'ja', 'ko', 'es', 'fr', 'de', 'pt-BR'].map((l) => h('option', { value: l })))),
      h('label', {}, t('edit.team'), f.team),
      h('label', { class: 'wide' }, t('edit.tags'), f.tags),
      h('label', { class: 'check wide' }, f.escalate, ' ', t('edit.escalate'))),
    h('label', {}, t('edit.questions'), f.questions),
    h('fieldset', {}, h('legend', {}, t('edit.details')), details,
      h('button', { type: 'button', class: 'small', id: 'add-detail', onclick: () => { details.append(detailRow()); dirty = true; } }, t('edit.addDetail'))),
    h('div', { class: 'split' },
      h('label', {}, t('edit.body'), f.body),
      h('div', {}, h('div', { class: 'label' }, t('edit.preview')), preview)),
    h('div', { class: 'actions' }, saveBtn, publishBtn, unpublishBtn, historyBtn, downloadBtn, deleteBtn));

  form.addEventListener('input', (e) => {
    dirty = true;
    if (e.target === f.body) updatePreview();
    if (e.target === f.title && !id && !f.id.dataset.touched) f.id.value = slugify(f.title.value);
    if (e.target === f.id) f.id.dataset.touched = '1';
  });
  view.replaceChildren(form);
  renderState();
  if (f.body.value) sanitizedHTML(preview, (await api.preview(f.body.value)).html);
  (id ? f.body : f.title).focus();
}

// ---- history -------------------------------------------------------------------------

async function historyView(id) {
  setNav('list');
  const res = await api.versions(id);
  const diffBox = h('div', { id: 'diff', class: 'diff' });
  const latest = res.versions[0].version;
  const rows = res.versions.map((v) => h('tr', { dataset: { version: v.version } },
    h('td', {}, v.version, v.version === latest ? h('span', { class: 'muted' }, ` (${t('hist.current')})`) : ''),
    h('td', {}, v.action), h('td', {}, v.author || ''), h('td', { class: 'muted' }, fmtDate(v.at)),
    h('td', {}, v.article.title),
    h('td', {}, v.version === latest ? '' : h('span', {},
      h('button', { class: 'small diff-btn', onclick: () => showDiff(v.version) }, t('hist.diff')), ' ',
      v.action === 'delete' ? '' : h('button', { class: 'small restore-btn', onclick: () => restore(v.version) }, t('hist.restore'))))));
  const showDiff = async (n) => {
    try {
      const d = await api.diff(id, n);
      diffBox.replaceChildren(h('h2', {}, `v${d.from} → v${d.to}`),
        h('pre', {}, ...d.lines.map((l) => h('div', { class: `line ${l.op === '+' ? 'add' : l.op === '-' ? 'del' : 'same'}` },
          `${l.op === '=' ? ' ' : l.op} ${l.text}`))));
    } catch (err) { showError(err); }
  };
  const restore = async (n) => {
    try {
      const a = await api.restore(id, n);
      flash(t('hist.restored', { n, v: a.version }));
      await historyView(id);
    } catch (err) { showError(err); }
  };
  view.replaceChildren(
    h('p', {}, h('a', { href: `#/edit/${encodeURIComponent(id)}`, id: 'back' }, t('hist.back'))),
    h('h1', {}, t('hist.title', { id })),
    h('table', { class: 'list', id: 'versions' }, h('thead', {}, h('tr', {}, h('th', {}, t('hist.version')),
      h('th', {}, t('hist.action')), h('th', {}, t('hist.author')), h('th', {}, t('hist.when')), h('th', {}, t('col.title')), h('th'))),
    h('tbody', {}, ...rows)),
    diffBox);
}

// ---- content gaps --------------------------------------------------------------------

async function gapsView() {
  setNav('gaps');
  const days = h('select', { id: 'gap-days' }, ...[7, 30, 90, 365].map((d) => h('option', { value: d }, t('gaps.days', { d }))));
  days.value = sessionStorage.getItem('kb.gapDays') || '30';
  const list = h('div', { id: 'gaps' });
  const load = async () => {
    sessionStorage.setItem('kb.gapDays', days.value);
    const res = await api.gaps(days.value);
    list.replaceChildren();
    if (!res.groups.length) list.append(h('p', { class: 'muted' }, t('gaps.empty')));
    for (const g of res.groups) {
      list.append(h('section', { class: 'gap', dataset: { key: g.key } },
        h('div', { class: 'bar' }, h('h2', {}, g.title), h('span', { class: 'count' }, t('gaps.asked', { n: g.count }))),
        h('p', { class: 'muted' }, `${t('gaps.first')} ${fmtDate(g.first)} · ${t('gaps.last')} ${fmtDate(g.last)}`,
          g.languages.length ? ` · ${g.languages.join(', ')}` : '',
          g.candidate ? h('span', {}, ` · ${t('gaps.candidate')} `, h('a', { href: `#/edit/${encodeURIComponent(g.candidate)}` }, g.candidate)) : ''),
        h('ul', {}, ...g.questions.map((q) => h('li', {}, q.text, q.count > 1 ? h('span', { class: 'muted' }, ` ×${q.count}`) : ''))),
        h('button', { class: 'primary create-from-gap', onclick: () => {
          sessionStorage.setItem('kb.prefill', JSON.stringify({ title: g.title, questions: g.questions.map((q) => q.text),
            lang: (g.languages[0] || getLang()) }));
          location.hash = '#/new';
        } }, t('gaps.create'))));
    }
  };
  days.addEventListener('change', () => load().catch(showError));
  view.replaceChildren(h('div', { class: 'bar' }, h('h1', {}, t('gaps.title')), days), h('p', { class: 'muted' }, t('gaps.intro')), list);
  await load();
}

// ---- try a question ------------------------------------------------------------------

function meter(share) {
  const bar = h('span');
  bar.style.width = `${Math.round(100 * Math.max(0, Math.min(1, share)))}%`; // CSSOM: allowed by the CSP
  return h('div', { class: 'meter' }, bar);
}

async function tryView() {
  setNav('try');
  const q = h('input', { id: 'try-q', type: 'search', placeholder: t('try.placeholder'), size: 50 });
  const lang = h('select', { id: 'try-lang' }, h('option', { value: '' }, t('lang.any')),
    ...['en', 'zh', 'ja', 'ko', 'es', 'fr', 'de'].map((l) => h('option', { value: l }, l)));
  const drafts = h('input', { id: 'try-drafts', type: 'checkbox' });
  const out = h('div', { id: 'try-results' });
  const run = async (e) => {
    if (e) e.preventDefault();
    if (!q.value.trim()) return;
    const res = await api.search({ q: q.value, lang: lang.value, drafts: drafts.checked, limit: 5 });
    out.replaceChildren();
    if (!res.hits.length) { out.append(h('p', { class: 'muted' }, t('try.none'))); return; }
    const top = res.hits[0].score || 1;
    out.append(h('table', { class: 'list' }, h('thead', {}, h('tr', {}, h('th', {}, '#'), h('th', {}, t('col.title')),
      h('th', { class: 'num' }, t('col.score')), h('th', {}, t('col.matched')))),
    h('tbody', {}, ...res.hits.map((hit, i) => h('tr', { class: 'hit', dataset: { id: hit.id } },
      h('td', {}, i + 1),
      h('td', {}, h('a', { href: `#/edit/${encodeURIComponent(hit.id)}` }, hit.title), ' ', statusBadge(hit.status),
        hit.escalate ? h('span', { class: 'badge esc' }, 'escalate') : '', h('div', { class: 'muted id' }, `${hit.id} · ${hit.lang}${hit.team ? ' · ' + hit.team : ''}`)),
      h('td', { class: 'num score' }, hit.score.toFixed(3), meter(hit.score / top)),
      h('td', {}, hit.snippet ? sanitizedHTML(h('div', { class: 'snippet' }), hit.snippet) : '', hit.field ? h('div', { class: 'muted' }, hit.field) : ''))))));
  };
  view.replaceChildren(h('h1', {}, t('try.title')), h('p', { class: 'muted' }, t('try.intro')),
    h('form', { class: 'filters', id: 'try-form', onsubmit: (e) => run(e).catch(showError) }, q, lang,
      h('label', {}, drafts, ' ', t('try.drafts')), h('button', { class: 'primary', type: 'submit', id: 'try-go' }, t('try.ask'))),
    out);
  q.focus();
}

// ---- start ---------------------------------------------------------------------------

const uilang = document.getElementById('uilang');
uilang.value = getLang();
uilang.addEventListener('change', () => { setLang(uilang.value); translateStatic(); route(); });
translateStatic();
api.me().then((u) => { document.getElementById('me').textContent = u.name || u.email || ''; }).catch(() => {});
route();
