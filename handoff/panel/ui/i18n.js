// i18n.js — the panel's strings in English and Chinese (from the browser's language).

const en = {
  mine: 'Mine', queue: 'Queue', team: 'Team', closed: 'Closed', online: 'Online', away: 'Away', offline: 'Offline',
  notify: 'Notify me', logout: 'Sign out', password: 'Password', empty: 'Nothing here.', pick: 'Pick a conversation.',
  claim: 'Claim', transfer: 'Transfer', close: 'Close', send: 'Send', note: 'Internal note', addNote: 'Add note',
  placeholder: 'Reply… type / for canned responses', notePlaceholder: 'Note for agents only (never sent)…',
  waiting: 'waiting', position: 'position', breached: 'breached', paused: 'paused', firstResponse: 'first response',
  resolution: 'resolution', reason: 'Escalation reason', details: 'Details the bot collected', candidates: 'Articles the bot considered',
  contact: 'Customer', previous: 'Previous conversations', channel: 'Channel', language: 'Language', tier: 'Tier',
  email: 'Email', verified: 'verified', unreachable: 'Unreachable', sentiment: 'Sentiment', summary: 'Summary',
  typing: 'is typing…', customerTyping: 'Customer is typing…', bot: 'Bot', system: 'System', you: 'You', internal: 'Note',
  notDelivered: 'not delivered', insertKB: 'Insert KB article', search: 'Search', insert: 'Insert', cancel: 'Cancel',
  toAgent: 'To an agent', toTeam: 'To a team', transferNote: 'Note for the next person', resolved: 'Resolved',
  unresolved: 'Unresolved', spam: 'Spam', tags: 'Tags (comma separated)', rating: 'Rating', noRating: 'not rated yet',
  comment: 'Comment', assignedTo: 'Assigned to', status: 'Status', offlineTicket: 'offline ticket', kbOff: 'The knowledge base is not connected.',
  newAssignment: 'New conversation assigned to you', newMessage: 'New message', canned: 'Canned responses',
  shortcut: 'Shortcut', title: 'Title', text: 'Text', save: 'Save', delete: 'Delete', shared: 'all teams',
  stats: 'Last 30 days', avg: 'average rating', rated: 'rated', frBreaches: 'first-response breaches', resBreaches: 'resolution breaches',
  reconnecting: 'Reconnecting…', unread: 'unread', agents: 'Agents', load: 'chats', min: 'min', h: 'h',
  sentTo: 'Sent', failed: 'Delivery failed', queuedAt: 'queued', notYours: 'Assigned to', closedAs: 'Closed as',
};

const zh = {
  mine: '我的', queue: '队列', team: '团队', closed: '已结束', online: '在线', away: '离开', offline: '离线',
  notify: '通知我', logout: '退出', password: '密码', empty: '暂无内容。', pick: '请选择一个对话。',
  claim: '接手', transfer: '转接', close: '结束', send: '发送', note: '内部备注', addNote: '添加备注',
  placeholder: '回复… 输入 / 使用快捷回复', notePlaceholder: '仅客服可见的备注（不会发送给客户）…',
  waiting: '等待', position: '位置', breached: '已超时', paused: '已暂停', firstResponse: '首次响应',
  resolution: '解决', reason: '转人工原因', details: '机器人收集的信息', candidates: '机器人参考的文章',
  contact: '客户', previous: '历史对话', channel: '渠道', language: '语言', tier: '等级',
  email: '邮箱', verified: '已验证', unreachable: '无法送达', sentiment: '情绪', summary: '摘要',
  typing: '正在输入…', customerTyping: '客户正在输入…', bot: '机器人', system: '系统', you: '你', internal: '备注',
  notDelivered: '未送达', insertKB: '插入知识库文章', search: '搜索', insert: '插入', cancel: '取消',
  toAgent: '转给客服', toTeam: '转给团队', transferNote: '给接手人的备注', resolved: '已解决',
  unresolved: '未解决', spam: '垃圾信息', tags: '标签（逗号分隔）', rating: '评分', noRating: '尚未评分',
  comment: '意见', assignedTo: '负责人', status: '状态', offlineTicket: '离线工单', kbOff: '知识库未连接。',
  newAssignment: '有新对话分配给你', newMessage: '新消息', canned: '快捷回复',
  shortcut: '快捷键', title: '标题', text: '内容', save: '保存', delete: '删除', shared: '所有团队',
  stats: '最近 30 天', avg: '平均评分', rated: '已评分', frBreaches: '首次响应超时', resBreaches: '解决超时',
  reconnecting: '正在重新连接…', unread: '未读', agents: '客服', load: '个对话', min: '分钟', h: '小时',
  sentTo: '已发送', failed: '发送失败', queuedAt: '排队', notYours: '负责人', closedAs: '结束为',
};

const dict = (navigator.language || 'en').toLowerCase().startsWith('zh') ? zh : en;

export function t(key) { return dict[key] || en[key] || key; }
export const lang = dict === zh ? 'zh' : 'en';
