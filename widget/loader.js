/* Concierge chat widget loader: docs/widget.md. The chat runs in an iframe on the gateway's
 * origin; the visitor token is kept on the host page (iframe storage is partitioned). */
(function (w, d) {
  'use strict';
  if (w.__concierge) return;
  w.__concierge = 1;
  var D = /*DEFAULTS*/{};
  var me = d.currentScript || d.querySelector('script[src*="/widget.js"]');
  var base = new URL(me.src, location.href).origin;
  var S = w.ConciergeSettings || {};
  var KEY = 'concierge_visitor';
  var queued = (typeof w.Concierge === 'function' && w.Concierge.q) || [];
  var listeners = {};
  var user = norm(S.user);
  var locale = S.locale || D.locale || '';
  var accent = /^#[0-9a-f]{6}$/i.test(S.accent || '') ? S.accent : D.accent || '#2563eb';
  var side = (S.position || D.position) === 'left' ? 'left' : 'right';
  var zh = /^zh/i.test(locale || navigator.language || '');
  var frame, launcher, badge, isOpen = false, ready = false;
  var small = w.matchMedia('(max-width: 480px)');

  // The visitor token: localStorage, or a first-party cookie where storage is blocked.
  function token(v) {
    try {
      if (v === undefined) return localStorage.getItem(KEY);
      if (v) localStorage.setItem(KEY, v); else localStorage.removeItem(KEY);
      return v;
    } catch (e) { /* fall back to a cookie */ }
    if (v === undefined) {
      var m = d.cookie.match(/(?:^|; )concierge_visitor=([^;]*)/);
      return m ? decodeURIComponent(m[1]) : null;
    }
    d.cookie = KEY + '=' + (v ? encodeURIComponent(v) : '') + '; path=/; SameSite=Lax; max-age=' +
      (v ? 31536000 : 0) + (location.protocol === 'https:' ? '; Secure' : '');
    return v;
  }

  // setUser({id, email, name, user_hash, ...attributes}) → the protocol's user claim.
  function norm(u) {
    if (!u || u.id == null) return null;
    var out = { id: String(u.id), attributes: {} };
    for (var k in u) {
      if (!Object.prototype.hasOwnProperty.call(u, k) || u[k] == null) continue;
      if (k === 'email' || k === 'name' || k === 'user_hash') out[k] = String(u[k]);
      else if (k !== 'id' && typeof u[k] !== 'object') out.attributes[k] = String(u[k]);
    }
    return out;
  }

  function emit(ev, data) {
    (listeners[ev] || []).forEach(function (fn) {
      try { fn(data); } catch (e) { setTimeout(function () { throw e; }); }
    });
  }

  function post(msg) {
    msg.src = 'concierge';
    if (frame && ready) frame.contentWindow.postMessage(msg, base);
  }

  function css(el, st) { for (var k in st) el.style[k] = st[k]; return el; }

  function label() {
    return isOpen ? (zh ? '关闭聊天' : 'Close chat') : (zh ? '打开聊天' : 'Open chat');
  }

  function icon() {
    var ns = 'http://www.w3.org/2000/svg';
    var svg = d.createElementNS(ns, 'svg');
    svg.setAttribute('viewBox', '0 0 24 24');
    svg.setAttribute('width', '28');
    svg.setAttribute('height', '28');
    svg.setAttribute('aria-hidden', 'true');
    var p = d.createElementNS(ns, 'path');
    p.setAttribute('fill', 'currentColor');
    p.setAttribute('d', isOpen ? 'M18.3 5.7 12 12l6.3 6.3-1.4 1.4L10.6 13.4 4.3 19.7 2.9 18.3 9.2 12 2.9 5.7 4.3 4.3l6.3 6.3 6.3-6.3z'
      : 'M4 3h16a2 2 0 0 1 2 2v11a2 2 0 0 1-2 2H8l-5 4V5a2 2 0 0 1 1-2zm3 6v2h10V9zm0-3v2h10V6zm0 6v2h7v-2z');
    svg.appendChild(p);
    return svg;
  }

  function build() {
    launcher = d.createElement('button');
    launcher.id = 'concierge-launcher';
    launcher.type = 'button';
    launcher.setAttribute('aria-haspopup', 'dialog');
    css(launcher, {
      position: 'fixed', bottom: '20px', width: '56px', height: '56px', borderRadius: '50%', border: '0',
      background: accent, color: '#fff', cursor: 'pointer', boxShadow: '0 4px 14px rgba(0,0,0,.25)',
      zIndex: '2147483000', padding: '0', display: 'flex', alignItems: 'center', justifyContent: 'center'
    });
    launcher.style[side] = '20px';
    badge = d.createElement('span');
    badge.id = 'concierge-badge';
    css(badge, {
      position: 'absolute', top: '-2px', right: '-2px', minWidth: '20px', height: '20px', borderRadius: '10px',
      background: '#dc2626', color: '#fff', font: 'bold 12px/20px system-ui,sans-serif', textAlign: 'center',
      padding: '0 5px', boxSizing: 'border-box', display: 'none'
    });
    launcher.addEventListener('click', function () { api.toggle(); });
    paint();
    d.body.appendChild(launcher);
    if (token()) ensureFrame(); // a returning visitor: connect now for unread replies
  }

  function paint() {
    launcher.textContent = '';
    launcher.appendChild(icon());
    launcher.appendChild(badge);
    launcher.setAttribute('aria-label', label() + (badge.textContent ? ' (' + badge.textContent + ')' : ''));
    launcher.setAttribute('aria-expanded', String(isOpen));
  }

  function setBadge(n) {
    badge.textContent = n > 0 ? (n > 99 ? '99+' : String(n)) : '';
    badge.style.display = n > 0 ? 'block' : 'none';
    paint();
  }

  function ensureFrame() {
    if (frame) return;
    frame = d.createElement('iframe');
    frame.id = 'concierge-frame';
    frame.title = S.title || D.title || 'Chat';
    frame.setAttribute('aria-label', frame.title);
    frame.src = base + '/widget/frame?origin=' + encodeURIComponent(location.origin) +
      (locale ? '&locale=' + encodeURIComponent(locale) : '');
    layout();
    launcher.setAttribute('aria-controls', frame.id);
    d.body.appendChild(frame);
  }

  function layout() {
    if (!frame) return;
    var full = small.matches;
    css(frame, {
      position: 'fixed', border: '0', zIndex: '2147483001', background: 'transparent',
      display: isOpen ? 'block' : 'none', colorScheme: 'normal',
      bottom: full ? '0' : '88px', top: full ? '0' : 'auto',
      width: full ? '100%' : '380px', height: full ? '100%' : 'min(640px, calc(100vh - 108px))',
      borderRadius: full ? '0' : '14px', boxShadow: full ? 'none' : '0 8px 30px rgba(0,0,0,.25)'
    });
    frame.style.left = frame.style.right = 'auto';
    frame.style[side] = full ? '0' : '20px';
    launcher.style.display = isOpen && full ? 'none' : 'flex';
  }

  w.addEventListener('message', function (e) {
    if (!frame || e.source !== frame.contentWindow || e.origin !== base) return;
    var m = e.data;
    if (!m || m.src !== 'concierge') return;
    switch (m.type) {
      case 'ready':
        ready = true;
        post({ type: 'init', token: token(), user: user, locale: locale, title: S.title || '',
          accent: S.accent ? accent : '', page: location.href, open: isOpen });
        emit('ready');
        break;
      case 'token': token(m.token); break;
      case 'unread': setBadge(m.count); emit('unread', m.count); break;
      case 'close': api.close(); break;
      case 'message': emit('message', m.message); break;
      case 'status': emit('status', m.status); break;
    }
  });

  var api = {
    open: function () {
      ensureFrame();
      if (isOpen) return;
      isOpen = true;
      layout();
      paint();
      post({ type: 'open' });
      try { frame.focus(); } catch (e) { /* not focusable yet */ }
      emit('open');
    },
    close: function () {
      if (!isOpen) return;
      isOpen = false;
      layout();
      paint();
      post({ type: 'close' });
      launcher.focus();
      emit('close');
    },
    toggle: function () { if (isOpen) api.close(); else api.open(); },
    setUser: function (u) {
      user = norm(u);
      post({ type: 'user', user: user });
    },
    // Forget the visitor (call it at logout): a new token and an empty chat.
    reset: function () {
      token(null);
      user = null;
      if (frame) {
        frame.remove();
        frame = null;
        ready = false;
      }
      setBadge(0);
      if (isOpen) ensureFrame();
      emit('reset');
    },
    on: function (ev, fn) {
      if (typeof fn === 'function') (listeners[ev] = listeners[ev] || []).push(fn);
    }
  };

  w.Concierge = function (cmd) {
    var f = api[cmd];
    if (!f) return console.warn('Concierge: unknown command', cmd);
    return f.apply(null, [].slice.call(arguments, 1));
  };
  small.addEventListener('change', layout);

  function start() {
    build();
    for (var i = 0; i < queued.length; i++) w.Concierge.apply(null, queued[i]);
  }
  if (d.body) start(); else d.addEventListener('DOMContentLoaded', start);
})(window, document);
