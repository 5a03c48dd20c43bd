// Strings of the chat window in English and Chinese. The language comes from the site's
// settings (locale) or, failing that, from the browser.
const strings = {
  en: {
    close: 'Close chat',
    message: 'Message',
    placeholder: 'Write a message…',
    send: 'Send',
    human: 'Talk to a human',
    humanText: "I'd like to talk to a person",
    bot: 'Assistant',
    agent: 'Support',
    typing: '{name} is typing…',
    reconnecting: 'Connection lost. Reconnecting…',
    offlineQueued: 'You are offline; messages will be sent when the connection is back.',
    subBot: 'Our assistant answers right away',
    subQueued: 'Waiting for a person to join…',
    subAssigned: 'You are chatting with our team',
    subClosed: 'Conversation closed. Write to start a new one.',
    newConversation: 'New conversation',
    rate: 'How did we do?',
    rateN: 'Rate {n} out of 5',
    comment: 'Anything to add? (optional)',
    sendRating: 'Send rating',
    tooLong: 'This message is too long ({n} / {max} bytes).',
    notSent: 'Not sent: {reason}',
    sending: 'Sending…',
    slowDown: 'Sending too fast; retrying shortly.',
    identityInvalid: 'We could not verify your account; you are chatting as a guest.',
    identityRequired: 'Please sign in to chat with us.',
    welcome: 'Hi! How can we help you today?',
  },
  zh: {
    close: '关闭聊天',
    message: '消息',
    placeholder: '输入消息…',
    send: '发送',
    human: '转人工客服',
    humanText: '我想和人工客服沟通',
    bot: '智能助手',
    agent: '客服',
    typing: '{name} 正在输入…',
    reconnecting: '连接已断开，正在重新连接…',
    offlineQueued: '当前离线，恢复连接后将自动发送消息。',
    subBot: '智能助手即时为您解答',
    subQueued: '正在为您转接人工客服…',
    subAssigned: '客服人员正在为您服务',
    subClosed: '会话已结束，发送消息即可开始新的会话。',
    newConversation: '新的会话',
    rate: '您对本次服务满意吗？',
    rateN: '评分 {n} 分（满分 5 分）',
    comment: '还有其他意见吗？（可选）',
    sendRating: '提交评价',
    tooLong: '消息过长（{n} / {max} 字节）。',
    notSent: '发送失败：{reason}',
    sending: '发送中…',
    slowDown: '发送过于频繁，稍后将自动重试。',
    identityInvalid: '无法验证您的账户，您将以访客身份聊天。',
    identityRequired: '请先登录后再与我们聊天。',
    welcome: '您好！请问有什么可以帮您？',
  },
};

let lang = 'en';

// setLocale picks zh for any Chinese locale (zh, zh-CN, zh-Hant…), otherwise English.
export function setLocale(pref) {
  const list = [pref, ...(navigator.languages || [navigator.language])].filter(Boolean);
  lang = /^zh/i.test(list[0] || '') ? 'zh' : 'en';
  document.documentElement.lang = lang === 'zh' ? 'zh-CN' : 'en';
  return lang;
}

export function t(key, vars) {
  let s = strings[lang][key] ?? strings.en[key] ?? key;
  for (const k in vars || {}) s = s.replace('{' + k + '}', vars[k]);
  return s;
}
