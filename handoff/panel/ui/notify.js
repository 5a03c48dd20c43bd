// notify.js — opt-in desktop notifications and a short chime for new assignments and
// messages. Off until the agent ticks "Notify me" (which also asks the browser).

const KEY = 'concierge.notify';
let audio = null;

export function notifyEnabled() { return localStorage.getItem(KEY) === '1'; }

export async function setNotify(on) {
  localStorage.setItem(KEY, on ? '1' : '0');
  if (on && 'Notification' in window && Notification.permission === 'default') {
    await Notification.requestPermission();
  }
  if (on && !audio && window.AudioContext) audio = new AudioContext(); // created on a click, so it may play
}

function chime() {
  if (!audio) return;
  const o = audio.createOscillator(), g = audio.createGain();
  o.frequency.value = 880;
  g.gain.setValueAtTime(0.15, audio.currentTime);
  g.gain.exponentialRampToValueAtTime(0.0001, audio.currentTime + 0.35);
  o.connect(g).connect(audio.destination);
  o.start();
  o.stop(audio.currentTime + 0.35);
}

export function alertAgent(title, body) {
  if (!notifyEnabled()) return;
  chime();
  if ('Notification' in window && Notification.permission === 'granted' && document.visibilityState !== 'visible') {
    // Notification bodies are plain text by specification.
    new Notification(title, { body: String(body || '').slice(0, 140), tag: 'concierge' });
  }
}
