// The chat window: talks to the host page's loader over postMessage (pinned origin,
// checked source) and to the gateway over a WebSocket (docs/widget-protocol.md).
// It reconnects with backoff and jitter, resumes from the last sequence number it saw,
// and keeps messages typed while offline until the server acknowledged them.
import { setLocale, t } from './i18n.js';
import * as view from './view.js';

const $ = (id) => document.getElementById(id);
const body = document.body;
const params = new URLSearchParams(location.search);
const hostOrigin = params.get('origin');
const inFrame = window.parent !== window && !!hostOrigin;
const enc = new TextEncoder();

function load(key, fallback) {
  try { return JSON.parse(localStorage.getItem(key)) ?? fallback; } catch { return fallback; }
}
function save(key, value) {
  try { localStorage.setItem(key, JSON.stringify(value)); } catch { /* storage blocked: memory only */ }
}

const s = {
  token: null,
  user: null,
  page: inFrame ? '' : location.href,
  open: !inFrame,
  conv: 0, // conversation and last sequence number seen: the resume point
  seq: 0,
  status: '',
  seen: new Set(),
  pending: load('concierge_pending', []), // messages not yet acknowledged, in order
  read: load('concierge_read', { conv: 0, seq: 0 }),
  unread: 0,
  ws: null,
  epoch: 0, // counts connections; a pending message is sent once per connection
  live: false,
  stopped: false,
  attempt: 0,
  timer: 0,
  maxText: 4096,
  typingAt: 0,
  typingTimer: 0,
};

function toHost(msg) {
  if (inFrame) window.parent.postMessage({ src: 'concierge', ...msg }, hostOrigin);
}

function newId() {
  const b = crypto.getRandomValues(new Uint8Array(12));
  return Array.from(b, (x) => x.toString(16).padStart(2, '0')).join('');
}

// --- connection -----------------------------------------------------------------

function connect() {
  clearTimeout(s.timer);
  if (s.stopped || s.ws) return;
  const ws = new WebSocket((location.protocol === 'https:' ? 'wss://' : 'ws://') + location.host + '/widget/ws');
  s.ws = ws;
  ws.onopen = () => {
    const hello = { type: 'hello', locale: document.documentElement.lang, page: s.page };
    if (s.token) hello.token = s.token;
    if (s.conv) Object.assign(hello, { conversation_id: s.conv, seq: s.seq });
    if (s.user) hello.user = s.user;
    ws.send(JSON.stringify(hello));
  };
  ws.onmessage = (e) => {
    let f;
    try { f = JSON.parse(e.data); } catch { return; }
    onFrame(f);
  };
  ws.onclose = () => {
    if (s.ws !== ws) return;
    s.ws = null;
    s.live = false;
    view.typing(false);
    if (!s.stopped) {
      view.banner(navigator.onLine === false ? t('offlineQueued') : t('reconnecting'));
      retry();
    }
  };
}

// retry waits min(30 s, 0.5 s · 2^attempt), half of it jittered, so a server restart is
// not met by every visitor at the same instant.
function retry() {
  const d = Math.min(30000, 500 * 2 ** s.attempt++);
  s.timer = setTimeout(connect, d / 2 + Math.random() * d / 2);
}

function reconnect() {
  if (s.ws) {
    const ws = s.ws;
    s.ws = null;
    ws.close();
  }
  s.live = false;
  s.stopped = false;
  s.attempt = 0;
  connect();
}

function send(frame) {
  if (!s.live || s.ws?.readyState !== WebSocket.OPEN) return false;
  s.ws.send(JSON.stringify(frame));
  return true;
}

function onFrame(f) {
  switch (f.type) {
    case 'welcome':
      s.live = true;
      s.attempt = 0;
      s.epoch++;
      s.maxText = f.max_text || s.maxText;
      if (f.token && f.token !== s.token) {
        // Another visitor now (a different signed-in user): nothing of the last one stays.
        if (s.token) forget();
        s.token = f.token;
        toHost({ type: 'token', token: f.token });
        if (!inFrame) save('concierge_token', f.token);
      }
      if (f.status) status(f.status);
      if (!f.conversation_id && !s.greeted) {
        s.greeted = true;
        view.add({ sender: 'bot', text: t('welcome') }); // local greeting, not stored
      }
      view.banner('');
      flush();
      break;
    case 'message':
      message(f);
      break;
    case 'ack':
      acked(f.id);
      break;
    case 'typing':
      view.typing(f.on, f.sender, f.name);
      break;
    case 'status':
      if (f.conversation_id >= s.conv) status(f.status);
      break;
    case 'error':
      error(f);
      break;
  }
}

function message(m) {
  const key = m.conversation_id + ':' + m.seq;
  if (s.seen.has(key)) return;
  s.seen.add(key);
  if (m.conversation_id > s.conv) {
    if (s.conv) view.separator();
    s.conv = m.conversation_id;
    s.seq = 0;
  }
  if (m.conversation_id === s.conv && m.seq > s.seq) s.seq = m.seq;
  if (m.client_id) acked(m.client_id);
  view.add(m);
  if (m.sender === 'user') return;
  view.typing(false);
  view.quickReplies(m.quick_replies, pick);
  const isNew = m.conversation_id > s.read.conv || (m.conversation_id === s.read.conv && m.seq > s.read.seq);
  if (isNew && (!s.open || document.hidden)) {
    s.unread++;
    toHost({ type: 'unread', count: s.unread });
    toHost({ type: 'message', message: { sender: m.sender, sender_name: m.sender_name, text: m.text } });
  } else if (s.open && !document.hidden) markRead();
}

function markRead() {
  s.read = { conv: s.conv, seq: s.seq };
  save('concierge_read', s.read);
  if (s.unread) {
    s.unread = 0;
    toHost({ type: 'unread', count: 0 });
  }
}

function status(st) {
  s.status = st;
  const sub = { bot: 'subBot', queued: 'subQueued', assigned: 'subAssigned', closed: 'subClosed' }[st];
  $('subtitle').textContent = sub ? t(sub) : '';
  $('human').hidden = st === 'queued' || st === 'assigned';
  toHost({ type: 'status', status: st });
}

function error(f) {
  switch (f.code) {
    case 'rate_limited':
    case 'unavailable': {
      const p = s.pending.find((x) => x.id === f.id);
      if (p) {
        p.epoch = 0; // send it again after the pause
        view.note(p.id, t('slowDown'));
        setTimeout(flush, f.retry_after_ms || 2000);
      }
      break;
    }
    case 'too_large':
    case 'invalid':
      if (f.id) {
        drop(f.id);
        view.failed(f.id, f.message);
      }
      break;
    case 'identity_invalid':
      view.banner(t('identityInvalid'), true);
      break;
    case 'identity_required':
      s.stopped = true;
      view.banner(t('identityRequired'), true);
      break;
    default:
      console.warn('concierge:', f.code, f.message);
  }
}

// --- sending --------------------------------------------------------------------

function savePending() {
  save('concierge_pending', s.pending.map(({ epoch, ...p }) => p));
  save('concierge_owner', s.token);
}

// forget drops what this window holds of the previous visitor (after reset or another
// user signed in): their messages on screen and any they had not sent yet.
function forget() {
  s.pending = [];
  savePending();
  s.seen.clear();
  s.conv = s.seq = 0;
  s.read = { conv: 0, seq: 0 };
  save('concierge_read', s.read);
  $('log').textContent = '';
  view.clearChoices();
}

function drop(id) {
  const i = s.pending.findIndex((p) => p.id === id);
  if (i >= 0) {
    s.pending.splice(i, 1);
    savePending();
  }
}

function acked(id) {
  drop(id);
}

function flush() {
  for (const p of s.pending) {
    if (p.epoch === s.epoch) continue;
    const { epoch, ...frame } = p;
    if (send({ type: 'message', ...frame })) p.epoch = s.epoch;
  }
}

function submit(text, payload, action) {
  text = text.trim();
  if (!text && !payload && !action) return false;
  const n = enc.encode(text).length;
  if (n > s.maxText) {
    view.banner(t('tooLong', { n, max: s.maxText }), true);
    return false;
  }
  const p = { id: newId(), text };
  if (payload) p.payload = payload;
  if (action) p.action = action;
  s.pending.push(p);
  savePending();
  view.add({ sender: 'user', text, payload, client_id: p.id, pending: true });
  view.clearChoices();
  flush();
  if (!s.live) view.banner(navigator.onLine === false ? t('offlineQueued') : t('reconnecting'));
  return true;
}

function pick(label, payload) {
  submit(label, payload);
  $('input').focus();
}

function typing(on) {
  clearTimeout(s.typingTimer);
  const now = Date.now();
  if (on) {
    if (now - s.typingAt > 3000) {
      s.typingAt = now;
      send({ type: 'typing', on: true });
    }
    s.typingTimer = setTimeout(() => typing(false), 4000);
  } else if (s.typingAt) {
    s.typingAt = 0;
    send({ type: 'typing', on: false });
  }
}

// --- host page and UI -----------------------------------------------------------

function setOpen(open) {
  s.open = open;
  if (open) {
    markRead();
    $('input').focus();
  }
}

function init(m) {
  setLocale(m.locale || body.dataset.locale);
  applyStrings();
  if (m.title) $('title').textContent = document.title = m.title;
  if (/^#[0-9a-f]{6}$/i.test(m.accent || '')) document.documentElement.style.setProperty('--accent', m.accent);
  s.token = m.token || null;
  const owner = load('concierge_owner', null);
  if (owner && owner !== s.token) forget(); // unsent messages of a visitor who was reset
  s.user = m.user || null;
  s.page = m.page || '';
  if (m.open) setOpen(true);
  reconnect();
}

function applyStrings() {
  $('close').setAttribute('aria-label', t('close'));
  $('input').setAttribute('aria-label', t('message'));
  $('input').placeholder = t('placeholder');
  $('send').setAttribute('aria-label', t('send'));
  $('human').textContent = t('human');
  if (!s.status) $('subtitle').textContent = t('subBot');
}

window.addEventListener('message', (e) => {
  if (!inFrame || e.source !== window.parent || e.origin !== hostOrigin) return;
  const m = e.data;
  if (!m || m.src !== 'concierge') return;
  switch (m.type) {
    case 'init': init(m); break;
    case 'open': setOpen(true); break;
    case 'close': setOpen(false); break;
    case 'user':
      s.user = m.user || null;
      reconnect();
      break;
  }
});

const input = $('input');
$('composer').addEventListener('submit', (e) => {
  e.preventDefault();
  if (submit(input.value)) {
    input.value = '';
    grow();
    typing(false);
  }
});
function grow() {
  input.style.height = 'auto';
  input.style.height = Math.min(input.scrollHeight, 120) + 'px';
  const n = enc.encode(input.value).length;
  const c = $('count');
  c.textContent = n > s.maxText * 0.8 ? n + ' / ' + s.maxText : '';
  c.classList.toggle('over', n > s.maxText);
}
input.addEventListener('input', () => {
  grow();
  typing(input.value !== '');
});
input.addEventListener('keydown', (e) => {
  if (e.key === 'Enter' && !e.shiftKey && !e.isComposing) {
    e.preventDefault();
    $('composer').requestSubmit();
  }
});
document.addEventListener('keydown', (e) => {
  if (e.key === 'Escape' && inFrame) toHost({ type: 'close' });
});
$('close').addEventListener('click', () => toHost({ type: 'close' }));
$('human').addEventListener('click', () => submit(t('humanText'), '', 'human'));
document.addEventListener('visibilitychange', () => {
  if (document.hidden) return;
  if (s.open) markRead();
  if (!s.ws && !s.stopped && (s.token || !inFrame)) reconnect();
});
window.addEventListener('online', () => { if (!s.ws && !s.stopped) reconnect(); });

// Messages typed before a reload are shown again and sent once connected.
for (const p of s.pending) view.add({ sender: 'user', text: p.text, payload: p.payload, client_id: p.id, pending: true });

if (/^#[0-9a-f]{6}$/i.test(body.dataset.accent || '')) document.documentElement.style.setProperty('--accent', body.dataset.accent);
if (inFrame) {
  setLocale(body.dataset.locale);
  applyStrings();
  toHost({ type: 'ready' });
} else {
  // Opened directly (a support link): the window is the whole page and keeps its own token.
  body.classList.add('standalone');
  init({ token: load('concierge_token', null), locale: params.get('locale') || body.dataset.locale, open: true });
}
