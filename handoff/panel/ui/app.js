// app.js — the agent panel: lists (mine, queue, team, closed), the conversation view with
// transcript, details and composer, and a WebSocket that keeps everything live. After a
// reconnect (or a "resync" frame) the state is reloaded from the API, so two tabs and a
// dropped connection always converge on the server's state.
import { api, logout } from './api.js';
import { t, lang } from './i18n.js';
import { el, clear, duration } from './dom.js';
import { notifyEnabled, setNotify, alertAgent } from './notify.js';

const S = {
  me: null, teams: [], agents: [], canned: [], kb: false, presence: 'offline',
  queue: { queued: [], mine: [], assigned: [] }, closed: [], stats: [], fetchedAt: Date.now(),
  tab: 'mine', current: null, view: null, typingTimer: null, customerTyping: null, ws: null, wsTries: 0,
  note: false, noteForced: false, mineIDs: new Set(), drafts: {},
};

const $ = (id) => document.getElementById(id);

async function boot() {
  const b = await api('GET', 'bootstrap');
  Object.assign(S, { me: b.me, teams: b.teams, agents: b.agents, canned: b.canned, kb: b.kb, presence: b.presence });
  renderShell();
  await reload();
  const id = Number((location.hash.match(/#c(\d+)/) || [])[1]);
  if (id) await open(id);
  connect();
  setInterval(tick, 1000);
}

// ---------- layout ----------

function renderShell() {
  const app = $('app');
  clear(app);
  app.append(
    el('header', { class: 'top' },
      el('strong', { class: 'brand' }, 'Concierge'),
      el('span', { id: 'conn', class: 'conn' }),
      el('span', { class: 'spacer' }),
      el('label', { class: 'notify' }, el('input', { type: 'checkbox', id: 'notify', checked: notifyEnabled(), onchange: (e) => setNotify(e.target.checked) }), ' ', t('notify')),
      el('select', { id: 'presence', onchange: (e) => setPresence(e.target.value) },
        ['online', 'away', 'offline'].map((p) => el('option', { value: p }, t(p)))),
      el('button', { class: 'link', id: 'canned-manage', onclick: cannedDialog }, t('canned')),
      el('span', { id: 'me', class: 'me' }, S.me.name),
      el('a', { href: '/account/password?next=/agent', class: 'link' }, t('password')),
      el('button', { class: 'link', id: 'logout', onclick: logout }, t('logout'))),
    el('div', { class: 'cols' },
      el('nav', { class: 'side' },
        el('div', { class: 'tabs' }, ['mine', 'queue', 'team', 'closed'].map((k) =>
          el('button', { id: 'tab-' + k, class: 'tab', onclick: () => { S.tab = k; renderLists(); if (k === 'closed') loadClosed(); } },
            t(k), el('span', { class: 'count', id: 'count-' + k })))),
        el('div', { id: 'list', class: 'list' })),
      el('main', { id: 'main', class: 'main' }, el('p', { class: 'muted pad' }, t('pick'))),
      el('aside', { id: 'details', class: 'details' })));
  $('presence').value = S.presence;
}

// ---------- data ----------

let reloadTimer = null;
function reloadSoon() {
  clearTimeout(reloadTimer);
  reloadTimer = setTimeout(reload, 150);
}

async function reload() {
  const q = await api('GET', 'queue');
  S.queue = q;
  S.fetchedAt = Date.now();
  const ids = new Set(q.mine.map((i) => i.conversation.id));
  for (const id of ids) {
    if (S.mineIDs.size && !S.mineIDs.has(id)) {
      alertAgent(t('newAssignment'), q.mine.find((i) => i.conversation.id === id).contact_name);
    }
  }
  S.mineIDs = ids;
  if (S.mineIDs.size === 0) S.mineIDs = new Set([0]); // remember that the first load happened
  renderLists();
  if (S.tab === 'closed') loadClosed();
}

async function loadClosed() {
  const [closed, stats] = await Promise.all([api('GET', 'closed'), api('GET', 'stats')]);
  S.closed = closed;
  S.stats = stats;
  if (S.tab === 'closed') renderLists();
}

async function reloadView() {
  if (!S.current) return;
  try {
    S.view = await api('GET', 'conversations/' + S.current);
    S.view.fetchedAt = Date.now();
  } catch (e) {
    S.view = null;
    S.current = null;
    clear($('main'));
    $('main').append(el('p', { class: 'error pad' }, e.message));
    clear($('details'));
    return;
  }
  renderView();
}

let viewTimer = null;
function reloadViewSoon() {
  clearTimeout(viewTimer);
  viewTimer = setTimeout(reloadView, 150);
}

// ---------- lists ----------

function renderLists() {
  const waiting = Object.values(S.queue.totals || {}).reduce((a, b) => a + b, 0);
  const counts = { mine: S.queue.mine.length, queue: waiting, team: S.queue.assigned.length, closed: '' };
  for (const k of Object.keys(counts)) {
    const c = $('count-' + k);
    if (c) c.textContent = counts[k] === '' ? '' : String(counts[k]);
    $('tab-' + k).classList.toggle('active', S.tab === k);
  }
  const unread = S.queue.mine.reduce((n, i) => n + (i.ticket.unread || 0), 0);
  document.title = (unread ? `(${unread}) ` : '') + 'Concierge — Agent panel';
  const list = $('list');
  clear(list);
  if (S.tab === 'queue') {
    const byTeam = new Map();
    for (const it of S.queue.queued) {
      if (!byTeam.has(it.conversation.team)) byTeam.set(it.conversation.team, []);
      byTeam.get(it.conversation.team).push(it);
    }
    if (!byTeam.size) list.append(el('p', { class: 'muted pad' }, t('empty')));
    for (const [team, items] of byTeam) {
      const title = (S.teams.find((x) => x.name === team) || { title: team }).title;
      const total = (S.queue.totals || {})[team] || items.length;
      list.append(el('h3', { class: 'team-head' }, title, el('span', { class: 'count' }, String(total))));
      for (const it of items) list.append(item(it, true));
      if (total > items.length) list.append(el('p', { class: 'muted pad' }, `+${total - items.length}`));
    }
    tick();
    return;
  }
  if (S.tab === 'closed') {
    for (const st of S.stats) {
      list.append(el('div', { class: 'stats' }, el('strong', {}, st.team), ' · ', t('stats'), ': ',
        st.rated ? `${st.avg_rating.toFixed(1)}★ ${t('avg')} (${st.rated} ${t('rated')})` : t('noRating'),
        ` · ${st.first_response_breached} ${t('frBreaches')} · ${st.resolution_breached} ${t('resBreaches')}`));
    }
    if (!S.closed.length) list.append(el('p', { class: 'muted pad' }, t('empty')));
    for (const it of S.closed) list.append(item(it, false));
    return;
  }
  if (S.tab === 'team') {
    list.append(el('div', { class: 'agents', id: 'agents' }, el('h3', { class: 'team-head' }, t('agents')),
      S.agents.map((a) => el('div', { class: 'agent row' }, el('span', { class: 'dot dot-' + a.presence, title: t(a.presence) }),
        el('span', {}, a.name), el('span', { class: 'spacer' }), el('span', { class: 'muted' }, `${a.load}/${a.max_chats}`)))));
  }
  const items = S.tab === 'mine' ? S.queue.mine : S.queue.assigned;
  if (!items.length) list.append(el('p', { class: 'muted pad' }, t('empty')));
  for (const it of items) list.append(item(it, false));
  tick();
}

function slaClass(sla, closed) {
  if (closed) return sla.breached ? 'sla-red' : 'sla-done';
  if (sla.breached || sla.remaining_ms < 0) return 'sla-red';
  if (sla.paused) return 'sla-paused';
  return sla.remaining_ms < sla.total_ms / 2 ? 'sla-amber' : 'sla-green';
}

function item(it, queued) {
  const c = it.conversation, tk = it.ticket;
  const closed = c.status === 'closed';
  return el('button', {
    class: 'item' + (S.current === c.id ? ' current' : ''), dataset: { id: c.id }, onclick: () => open(c.id),
  },
    el('div', { class: 'row' },
      el('span', { class: 'name' }, it.contact_name),
      tk.unread && c.assignee_id === S.me.id ? el('span', { class: 'badge', title: t('unread') }, String(tk.unread)) : null,
      el('span', { class: 'spacer' }),
      queued ? el('span', { class: 'pos' }, '#' + it.position) : null,
      el('span', { class: 'tier tier-' + tk.tier }, tk.tier)),
    el('div', { class: 'preview' }, it.preview || tk.escalation.note || tk.reason),
    el('div', { class: 'row meta' },
      el('span', { class: 'chan' }, c.channel),
      c.language ? el('span', {}, c.language) : null,
      tk.offline ? el('span', { class: 'offline-tag' }, t('offlineTicket')) : null,
      el('span', { class: 'spacer' }),
      queued ? el('span', { class: 'wait', dataset: { since: tk.queued_at } }, '') : null,
      closed ? el('span', { class: 'stars' }, tk.rating ? '★'.repeat(tk.rating) : t('noRating'))
        : el('span', { class: 'sla ' + slaClass(it.sla, false), dataset: slaData(it.sla) }, '')));
}

function slaData(sla) {
  return { remaining: sla.remaining_ms, paused: sla.paused ? '1' : '', at: Date.now(), total: sla.total_ms };
}

// tick counts SLA timers and waiting times down between reloads.
function tick() {
  const now = Date.now();
  for (const e of document.querySelectorAll('.sla[data-remaining]')) {
    const paused = e.dataset.paused === '1';
    const left = Number(e.dataset.remaining) - (paused ? 0 : now - Number(e.dataset.at));
    const total = Number(e.dataset.total);
    e.textContent = (paused ? '⏸ ' : '') + duration(left);
    e.classList.remove('sla-green', 'sla-amber', 'sla-red', 'sla-paused');
    e.classList.add(left < 0 ? 'sla-red' : paused ? 'sla-paused' : left < total / 2 ? 'sla-amber' : 'sla-green');
    e.title = left < 0 ? t('breached') : paused ? t('paused') : '';
  }
  for (const e of document.querySelectorAll('.wait[data-since]')) {
    e.textContent = t('waiting') + ' ' + duration(now - Date.parse(e.dataset.since));
  }
}

// ---------- conversation view ----------

async function open(id) {
  S.current = id;
  S.customerTyping = null;
  S.note = false;
  location.hash = 'c' + id;
  for (const b of document.querySelectorAll('.item')) b.classList.toggle('current', Number(b.dataset.id) === id);
  await reloadView();
  markRead();
}

function markRead() {
  const v = S.view;
  if (v && v.conversation.assignee_id === S.me.id && v.ticket && v.ticket.unread) {
    api('POST', `conversations/${v.conversation.id}/read`, {}).catch(() => {});
  }
}

function senderLabel(m) {
  if (m.internal) return t('internal') + ' · ' + (m.sender_name || '');
  switch (m.sender) {
    case 'user': return m.sender_name || t('contact');
    case 'bot': return t('bot');
    case 'system': return t('system');
    default: return m.sender_id === S.me.id ? t('you') : (m.sender_name || 'Agent');
  }
}

function renderMessage(m) {
  const li = el('li', { class: `msg msg-${m.sender}${m.internal ? ' msg-note' : ''}`, dataset: { id: m.id, seq: m.seq } },
    el('div', { class: 'who' }, senderLabel(m), el('time', {}, new Date(m.created_at).toLocaleTimeString())));
  const body = el('div', { class: 'body' });
  body.textContent = m.text; // text is text: customer input never becomes markup
  li.append(body);
  for (const a of m.attachments || []) {
    if (a.kind === 'image' && a.url && a.url.startsWith('/attachments/')) {
      li.append(el('a', { href: a.url, target: '_blank', rel: 'noopener' }, el('img', { src: a.url, alt: a.name || 'image', class: 'thumb' })));
    } else {
      li.append(el('div', { class: 'att' }, '📎 ', a.url && a.url.startsWith('/') ? el('a', { href: a.url, target: '_blank', rel: 'noopener' }, a.name || a.kind) : (a.name || a.kind), a.text ? ' — ' + a.text : ''));
    }
  }
  if (m.quick_replies && m.quick_replies.length) {
    li.append(el('div', { class: 'qr' }, m.quick_replies.map((q) => el('span', { class: 'chip' }, q.label))));
  }
  li.append(el('div', { class: 'delivery' }));
  return li;
}

function renderView() {
  const v = S.view;
  const c = v.conversation, tk = v.ticket;
  const main = $('main');
  // Keep what the agent is typing across re-renders (events re-render the view).
  const old = $('composer');
  const focused = old && document.activeElement === old;
  if (old) S.drafts[old.dataset.conv] = old.value;
  clear(main);
  const mineNow = c.status === 'assigned' && c.assignee_id === S.me.id;
  const admin = S.me.roles.includes('admin');
  const canAct = mineNow || admin || (c.status === 'queued');
  main.append(
    el('div', { class: 'conv-head' },
      el('h2', { id: 'conv-title' }, v.contact.name || v.contact.email || `${c.channel} #${v.contact.id}`),
      el('span', { class: 'status status-' + c.status, id: 'conv-status' }, c.status),
      v.assignee_name ? el('span', { class: 'muted' }, t('assignedTo') + ': ' + v.assignee_name) : null,
      v.position ? el('span', { class: 'muted' }, `${t('position')} #${v.position}`) : null,
      el('span', { class: 'spacer' }),
      c.status === 'queued' ? el('button', { id: 'claim', class: 'primary', onclick: claim }, t('claim')) : null,
      c.status !== 'closed' && canAct ? el('button', { id: 'transfer', onclick: transferDialog }, t('transfer')) : null,
      c.status !== 'closed' && canAct ? el('button', { id: 'close', onclick: closeDialog }, t('close')) : null),
    el('ol', { id: 'transcript', class: 'transcript' }, v.messages.map(renderMessage)),
    el('div', { id: 'typing', class: 'typing' }),
    c.status === 'closed' ? el('div', { class: 'closed-bar' }, `${t('closedAs')} ${tk ? t(tk.resolution || 'resolved') : ''}`,
      tk && tk.tags && tk.tags.length ? ' · ' + tk.tags.join(', ') : '',
      ' · ', t('rating'), ': ', el('span', { id: 'rating' }, tk && tk.rating ? '★'.repeat(tk.rating) + ` (${tk.rating}/5)` : t('noRating')),
      tk && tk.rating_comment ? el('q', { id: 'rating-comment' }, tk.rating_comment) : null) : composer(mineNow || admin));
  const tr = $('transcript');
  tr.scrollTop = tr.scrollHeight;
  const ta = $('composer');
  if (ta) {
    ta.dataset.conv = c.id;
    ta.value = S.drafts[c.id] || '';
    if (focused) ta.focus();
  }
  renderDetails();
  renderTyping();
  tick();
}

function composer(canReply) {
  const ta = el('textarea', {
    id: 'composer', rows: 3, placeholder: canReply ? t('placeholder') : t('notePlaceholder'),
    oninput: onType, onkeydown: (e) => {
      if (e.key === 'Enter' && !e.shiftKey && !e.isComposing) { e.preventDefault(); send(); }
      if (e.key === 'Escape') hideCanned();
    },
  });
  // Without the right to reply only notes are possible; once it is there, replies are
  // the default again unless the agent chose a note.
  if (!canReply) { S.note = true; S.noteForced = true; } else if (S.noteForced) { S.note = false; S.noteForced = false; }
  return el('div', { class: 'composer' + (S.note ? ' noting' : '') },
    el('ul', { id: 'canned-list', class: 'canned-list', hidden: true }),
    ta,
    el('div', { class: 'row' },
      el('label', {}, el('input', { type: 'checkbox', id: 'note-toggle', checked: S.note, disabled: !canReply, onchange: (e) => { S.note = e.target.checked; S.noteForced = false; renderView(); } }), ' ', t('note')),
      S.kb ? el('button', { id: 'kb-insert', onclick: kbDialog }, t('insertKB')) : null,
      el('span', { class: 'spacer' }),
      el('span', { id: 'composer-error', class: 'error' }),
      el('button', { id: 'send', class: 'primary', onclick: send }, S.note ? t('addNote') : t('send'))));
}

function renderDetails() {
  const v = S.view, c = v.conversation, tk = v.ticket, ct = v.contact;
  const d = $('details');
  clear(d);
  const kv = (k, val, id) => (val ? el('div', { class: 'kv' }, el('span', { class: 'k' }, k), el('span', { class: 'v', id }, val)) : null);
  const esc = tk ? tk.escalation : {};
  d.append(
    el('section', {},
      el('h4', {}, t('contact')),
      kv(t('channel'), c.channel, 'd-channel'), kv(t('language'), c.language, 'd-language'),
      kv(t('tier'), tk ? tk.tier : (ct.attributes || {}).tier, 'd-tier'),
      kv(t('email'), ct.email || (tk && tk.contact_email), 'd-email'),
      ct.verified ? el('div', { class: 'muted' }, '✓ ' + t('verified')) : null,
      ct.unreachable ? el('div', { class: 'error', id: 'd-unreachable' }, t('unreachable') + ': ' + ct.unreachable_reason) : null),
    tk ? el('section', {},
      el('h4', {}, t('reason')),
      el('div', { id: 'reason', class: 'reason' }, esc.reason || tk.reason),
      kv(t('summary'), esc.note, 'd-note'), kv(t('sentiment'), esc.sentiment, 'd-sentiment'),
      v.sla && c.status !== 'closed' ? el('div', { class: 'kv' }, el('span', { class: 'k' }, v.sla.target === 'first_response' ? t('firstResponse') : t('resolution')),
        el('span', { class: 'sla ' + slaClass(v.sla, false), dataset: slaData(v.sla) }, '')) : null) : null,
    el('section', {},
      el('h4', {}, t('details')),
      el('dl', { id: 'detail-list' }, Object.entries(Object.assign({}, esc.details || {}, c.details || {})).map(([k, val]) =>
        [el('dt', {}, k), el('dd', {}, val)]))),
    esc.candidates && esc.candidates.length ? el('section', {},
      el('h4', {}, t('candidates')),
      el('ul', { id: 'candidates', class: 'plain' }, esc.candidates.map((a) => el('li', {},
        el('span', {}, a.title || a.article_id), ' ', el('span', { class: 'muted' }, `${Math.round(a.score * 100)}%`), ' ',
        S.kb ? el('button', { class: 'link', onclick: () => insertArticle(a.article_id) }, t('insert')) : null)))) : null,
    el('section', {},
      el('h4', {}, t('previous')),
      v.previous.length ? el('ul', { class: 'plain', id: 'previous' }, v.previous.map((p) => el('li', {},
        el('button', { class: 'link', onclick: () => open(p.id) }, `#${p.id}`), ' ', p.status, ' · ', new Date(p.created_at).toLocaleDateString())))
        : el('p', { class: 'muted' }, t('empty'))));
}

function renderTyping() {
  const e = $('typing');
  if (!e) return;
  e.textContent = S.customerTyping ? t('customerTyping') : '';
}

// ---------- actions ----------

function showError(e) {
  const box = $('composer-error');
  if (box) box.textContent = e.message;
  else alert(e.message);
}

async function claim() {
  try {
    await api('POST', `conversations/${S.current}/claim`, {});
    await Promise.all([reload(), reloadView()]);
  } catch (e) {
    const main = $('main');
    main.prepend(el('p', { class: 'error', id: 'claim-error' }, e.message));
    reloadSoon();
  }
}

async function send() {
  const ta = $('composer');
  const text = ta.value.trim();
  if (!text) return;
  $('send').disabled = true;
  try {
    const m = await api('POST', `conversations/${S.current}/messages`, { text, internal: S.note });
    ta.value = '';
    S.drafts[S.current] = '';
    hideCanned();
    stopTyping();
    appendMessage(m);
  } catch (e) {
    showError(e);
  } finally {
    const b = $('send');
    if (b) b.disabled = false;
  }
}

function appendMessage(m) {
  if (!S.view || m.conversation_id !== S.current) return;
  if (S.view.messages.some((x) => x.id === m.id)) return;
  S.view.messages.push(m);
  const tr = $('transcript');
  if (!tr) return;
  tr.append(renderMessage(m));
  tr.scrollTop = tr.scrollHeight;
}

async function setPresence(p) {
  try {
    const r = await api('PUT', 'presence', { presence: p });
    S.presence = r.presence;
  } catch (e) { alert(e.message); }
  $('presence').value = S.presence;
}

function onType() {
  const ta = $('composer');
  const v = ta.value;
  if (v.startsWith('/')) showCanned(v.slice(1).split(/\s/)[0]); else hideCanned();
  if (S.note || !S.view || S.view.conversation.assignee_id !== S.me.id) return;
  if (!S.typingTimer) wsSend({ type: 'typing', conversation_id: S.current, on: true });
  clearTimeout(S.typingTimer);
  S.typingTimer = setTimeout(stopTyping, 4000);
}

function stopTyping() {
  if (S.typingTimer) {
    clearTimeout(S.typingTimer);
    S.typingTimer = null;
    wsSend({ type: 'typing', conversation_id: S.current, on: false });
  }
}

function showCanned(prefix) {
  const ul = $('canned-list');
  clear(ul);
  const team = S.view && S.view.conversation.team;
  const matches = S.canned.filter((c) => (c.team === '' || c.team === team) && c.shortcut.startsWith(prefix.toLowerCase()));
  for (const c of matches.slice(0, 8)) {
    ul.append(el('li', {}, el('button', { class: 'canned', dataset: { shortcut: c.shortcut }, onclick: () => {
      $('composer').value = c.body;
      hideCanned();
      $('composer').focus();
    } }, el('strong', {}, '/' + c.shortcut), ' ', c.title || c.body.slice(0, 60))));
  }
  ul.hidden = matches.length === 0;
}

function hideCanned() {
  const ul = $('canned-list');
  if (ul) ul.hidden = true;
}

function dialog(id, title, body, onOK) {
  const d = el('dialog', { id, class: 'dlg' },
    el('form', { method: 'dialog' },
      el('h3', {}, title), body,
      el('p', { class: 'error', id: id + '-error' }),
      el('div', { class: 'row' }, el('span', { class: 'spacer' }),
        el('button', { value: 'cancel', type: 'submit' }, t('cancel')),
        el('button', { id: id + '-ok', class: 'primary', type: 'button', onclick: async () => {
          try { await onOK(); d.close(); d.remove(); } catch (e) { $(id + '-error').textContent = e.message; }
        } }, 'OK'))));
  d.addEventListener('close', () => d.remove());
  document.body.append(d);
  d.showModal();
  return d;
}

function transferDialog() {
  const others = S.agents.filter((a) => a.id !== S.me.id);
  dialog('transfer-dialog', t('transfer'), [
    el('label', {}, t('toAgent'), el('select', { id: 'transfer-agent' }, el('option', { value: '' }, '—'),
      others.map((a) => el('option', { value: a.id }, `${a.name} (${t(a.presence)}, ${a.load} ${t('load')})`)))),
    el('label', {}, t('toTeam'), el('select', { id: 'transfer-team' }, el('option', { value: '' }, '—'),
      S.teams.map((tm) => el('option', { value: tm.name }, tm.title)))),
    el('label', {}, t('transferNote'), el('textarea', { id: 'transfer-note', rows: 3 })),
  ], async () => {
    await api('POST', `conversations/${S.current}/transfer`, {
      agent_id: Number($('transfer-agent').value) || 0, team: $('transfer-team').value, note: $('transfer-note').value,
    });
    reloadSoon();
    reloadViewSoon();
  });
}

function closeDialog() {
  dialog('close-dialog', t('close'), [
    el('label', {}, t('status'), el('select', { id: 'resolution' },
      ['resolved', 'unresolved', 'spam'].map((r) => el('option', { value: r }, t(r))))),
    el('label', {}, t('tags'), el('input', { id: 'tags', type: 'text' })),
  ], async () => {
    const tags = $('tags').value.split(',').map((s) => s.trim()).filter(Boolean);
    await api('POST', `conversations/${S.current}/close`, { resolution: $('resolution').value, tags });
    await Promise.all([reload(), reloadView()]);
  });
}

function kbDialog() {
  if (!S.kb) { showError(new Error(t('kbOff'))); return; }
  const results = el('ul', { id: 'kb-results', class: 'plain' });
  const input = el('input', { id: 'kb-q', type: 'search', value: (S.view.ticket && S.view.ticket.escalation.note) || '' });
  const search = async () => {
    clear(results);
    const hits = await api('GET', `kb/search?q=${encodeURIComponent(input.value)}&lang=${encodeURIComponent(S.view.conversation.language || '')}`);
    for (const h of hits) {
      results.append(el('li', {}, el('button', { class: 'link', onclick: async (e) => { e.preventDefault(); await insertArticle(h.id); $('kb-dialog').close(); } }, h.title), ' ', el('span', { class: 'muted' }, h.lang)));
    }
    if (!hits.length) results.append(el('li', { class: 'muted' }, t('empty')));
  };
  dialog('kb-dialog', t('insertKB'), [el('div', { class: 'row' }, input, el('button', { type: 'button', onclick: search }, t('search'))), results], async () => {});
  search().catch((e) => { results.append(el('li', { class: 'error' }, e.message)); });
}

function cannedDialog() {
  const admin = S.me.roles.includes('admin');
  const teams = admin ? S.teams.map((x) => x.name) : S.me.teams;
  const list = el('ul', { id: 'canned-manage-list', class: 'plain canned-manage' });
  const render = () => {
    clear(list);
    for (const c of S.canned) {
      list.append(el('li', {}, el('strong', {}, '/' + c.shortcut), ' ', el('span', { class: 'muted' }, c.team || t('shared')), ' ',
        c.title, el('div', { class: 'muted' }, c.body),
        admin || (c.team && S.me.teams.includes(c.team)) ? el('button', { class: 'link', type: 'button', onclick: async () => {
          await api('DELETE', 'canned/' + c.id);
          S.canned = await api('GET', 'canned');
          render();
        } }, t('delete')) : null));
    }
  };
  render();
  dialog('canned-dialog', t('canned'), [
    list,
    el('label', {}, t('team'), el('select', { id: 'canned-team' },
      admin ? el('option', { value: '' }, t('shared')) : null, teams.map((n) => el('option', { value: n }, n)))),
    el('label', {}, t('shortcut'), el('input', { id: 'canned-shortcut', type: 'text', placeholder: 'refund' })),
    el('label', {}, t('title'), el('input', { id: 'canned-title', type: 'text' })),
    el('label', {}, t('text'), el('textarea', { id: 'canned-body', rows: 4 })),
  ], async () => {
    await api('POST', 'canned', { team: $('canned-team').value, shortcut: $('canned-shortcut').value,
      title: $('canned-title').value, body: $('canned-body').value });
    S.canned = await api('GET', 'canned');
  });
}

async function insertArticle(id) {
  const a = await api('GET', 'kb/articles/' + encodeURIComponent(id));
  const ta = $('composer');
  if (!ta) return;
  ta.value = (ta.value ? ta.value + '\n\n' : '') + a.title + '\n' + a.body;
  ta.focus();
}

// ---------- live updates ----------

function wsSend(f) {
  if (S.ws && S.ws.readyState === WebSocket.OPEN) S.ws.send(JSON.stringify(f));
}

function connect() {
  const ws = new WebSocket((location.protocol === 'https:' ? 'wss://' : 'ws://') + location.host + '/agent/ws');
  S.ws = ws;
  ws.onopen = () => {
    S.wsTries = 0;
    $('conn').textContent = '';
    $('conn').classList.remove('down');
  };
  ws.onmessage = (e) => {
    const f = JSON.parse(e.data);
    if (f.type === 'hello') {
      S.presence = f.presence;
      $('presence').value = S.presence;
      // Anything may have happened while we were away: reload.
      reload();
      reloadView();
    } else if (f.type === 'resync') {
      reload();
      reloadView();
    } else if (f.type === 'event') {
      onEvent(f.event);
    }
  };
  ws.onclose = (e) => {
    if (e.code === 4001) { location.href = '/login?next=/agent'; return; }
    $('conn').textContent = t('reconnecting');
    $('conn').classList.add('down');
    const delay = Math.min(10000, 500 * 2 ** S.wsTries++);
    setTimeout(connect, delay);
  };
}

function onEvent(ev) {
  const cur = ev.conversation_id && ev.conversation_id === S.current;
  switch (ev.kind) {
    case 'message': {
      const m = ev.message;
      if (cur) {
        appendMessage(m);
        if (m.sender === 'user') {
          S.customerTyping = null;
          renderTyping();
          if (document.hasFocus()) markRead();
        }
      }
      if (m.sender === 'user' && S.mineIDs.has(ev.conversation_id) && (!cur || !document.hasFocus())) {
        alertAgent(t('newMessage'), m.text);
      }
      reloadSoon();
      break;
    }
    case 'status':
      reloadSoon();
      if (cur) reloadViewSoon();
      break;
    case 'queue':
      reloadSoon();
      if (cur) reloadViewSoon();
      break;
    case 'typing':
      if (cur && ev.typing.sender === 'user') {
        S.customerTyping = ev.typing.on ? Date.now() : null;
        renderTyping();
        if (ev.typing.on) setTimeout(() => { if (S.customerTyping && Date.now() - S.customerTyping >= 6000) { S.customerTyping = null; renderTyping(); } }, 6100);
      }
      break;
    case 'delivery':
      if (cur && ev.delivery.state === 'failed') {
        const li = document.querySelector(`.msg[data-id="${ev.delivery.message_id}"] .delivery`);
        if (li) li.textContent = `⚠ ${t('notDelivered')}: ${ev.delivery.error}`;
        reloadViewSoon(); // the contact may now be unreachable
      }
      break;
    case 'presence': {
      const st = JSON.parse(JSON.stringify(ev.data));
      const i = S.agents.findIndex((a) => a.id === st.id);
      if (i >= 0) S.agents[i] = st; else S.agents.push(st);
      if (S.tab === 'team') renderLists();
      if (st.id === S.me.id) {
        S.presence = st.presence;
        $('presence').value = S.presence;
      }
      break;
    }
  }
}

document.documentElement.lang = lang;
boot().catch((e) => {
  const app = $('app');
  clear(app);
  app.append(el('p', { class: 'error pad' }, e.message));
});
