// The chat window's DOM. Text from users and agents is only ever set with textContent;
// the one exception is a bot answer's html, which the server rendered from Markdown and
// sanitised.
import { t } from './i18n.js';

const $ = (id) => document.getElementById(id);
const log = $('log');
const choices = $('choices');

function el(tag, cls, text) {
  const e = document.createElement(tag);
  if (cls) e.className = cls;
  if (text != null) e.textContent = text;
  return e;
}

function stars(n) {
  return '★'.repeat(n) + '☆'.repeat(5 - n);
}

// Pending (unconfirmed) messages stay at the bottom: they come after everything stored.
function firstPending() {
  return log.querySelector('.msg.pending');
}

function nearBottom() {
  return log.scrollHeight - log.scrollTop - log.clientHeight < 80;
}

function place(li, pending) {
  const stick = nearBottom();
  if (pending) log.appendChild(li);
  else log.insertBefore(li, firstPending());
  if (stick || pending) log.scrollTop = log.scrollHeight;
}

function fill(li, m) {
  li.textContent = '';
  li.className = 'msg msg-' + m.sender;
  if (m.sender === 'bot' || m.sender === 'agent') {
    li.appendChild(el('span', 'who', m.sender === 'bot' ? m.sender_name || t('bot') : m.sender_name || t('agent')));
  }
  const body = el('div', 'body');
  const rating = /^csat:([1-5])$/.exec(m.payload || '');
  if (m.html && m.sender === 'bot') {
    body.innerHTML = m.html; // server-rendered and sanitised (goldmark + bluemonday)
    for (const a of body.querySelectorAll('a')) {
      a.target = '_blank';
      a.rel = 'noopener noreferrer';
    }
  } else if (rating) {
    body.textContent = stars(+rating[1]) + (m.text ? '\n' + m.text : '');
  } else {
    body.textContent = m.text;
  }
  li.appendChild(body);
  if (m.at) li.title = new Date(m.at).toLocaleString();
  if (m.client_id) li.dataset.id = m.client_id;
}

// add shows a stored message (or a pending one when m.pending).
export function add(m) {
  let li = m.client_id && log.querySelector(`[data-id="${CSS.escape(m.client_id)}"]`);
  const fresh = !li;
  if (fresh) li = el('li');
  fill(li, m);
  if (m.pending) {
    li.classList.add('pending');
    li.appendChild(el('span', 'note', t('sending')));
  }
  if (fresh || !m.pending) place(li, m.pending);
  return li;
}

export function failed(id, reason) {
  const li = log.querySelector(`[data-id="${CSS.escape(id)}"]`);
  if (!li) return;
  li.classList.remove('pending');
  li.classList.add('failed');
  li.querySelector('.note')?.remove();
  li.appendChild(el('span', 'note', t('notSent', { reason })));
}

export function note(id, text) {
  const li = log.querySelector(`[data-id="${CSS.escape(id)}"]`);
  const n = li?.querySelector('.note');
  if (n) n.textContent = text;
}

export function separator() {
  place(el('li', 'sep', t('newConversation')), false);
}

export function typing(on, sender, name) {
  const box = $('typing');
  box.hidden = !on;
  $('typing-label').textContent = on ? t('typing', { name: name || (sender === 'bot' ? t('bot') : t('agent')) }) : '';
}

export function banner(text, error) {
  const b = $('banner');
  b.hidden = !text;
  b.textContent = text || '';
  b.classList.toggle('error', !!error);
}

// quickReplies shows a message's buttons; a csat: survey becomes a 1–5 rating with an
// optional comment. onPick(label, payload) sends the choice.
export function quickReplies(list, onPick) {
  choices.textContent = '';
  if (!list || !list.length) return;
  if (list.every((q) => /^csat:[1-5]$/.test(q.payload))) return rating(list, onPick);
  for (const q of list) {
    const b = el('button', 'chip', q.label);
    b.type = 'button';
    b.addEventListener('click', () => onPick(q.label, q.payload));
    choices.appendChild(b);
  }
}

function rating(list, onPick) {
  const box = el('div', 'rating');
  box.setAttribute('role', 'group');
  box.setAttribute('aria-label', t('rate'));
  box.appendChild(el('span', null, t('rate')));
  const row = el('div', 'stars');
  const comment = el('textarea');
  comment.rows = 2;
  comment.setAttribute('aria-label', t('comment'));
  comment.placeholder = t('comment');
  const submit = el('button', 'chip', t('sendRating'));
  submit.type = 'button';
  submit.disabled = true;
  let picked = null;
  for (let n = 1; n <= 5; n++) {
    const q = list.find((x) => x.payload === 'csat:' + n) || { payload: 'csat:' + n };
    const b = el('button', 'chip', String(n) + '★');
    b.type = 'button';
    b.setAttribute('aria-label', t('rateN', { n }));
    b.setAttribute('aria-pressed', 'false');
    b.addEventListener('click', () => {
      picked = q.payload;
      for (const o of row.children) o.setAttribute('aria-pressed', String(o === b));
      submit.disabled = false;
    });
    row.appendChild(b);
  }
  submit.addEventListener('click', () => picked && onPick(comment.value.trim(), picked));
  box.append(row, comment, submit);
  choices.appendChild(box);
}

export function clearChoices() {
  choices.textContent = '';
}
