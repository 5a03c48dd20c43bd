// i18n.js — the editor's strings in English and Chinese.
const strings = {
  en: {
    'nav.articles': 'Articles', 'nav.gaps': 'Content gaps', 'nav.try': 'Try a question', 'nav.help': 'Help center ↗',
    'list.title': 'Articles', 'list.new': 'New article', 'list.import': 'Import .md files', 'list.search': 'Search articles…',
    'list.allLangs': 'All languages', 'list.allStatus': 'Any status', 'list.tag': 'Tag', 'list.trash': 'Deleted',
    'list.empty': 'No articles match.', 'col.title': 'Title', 'col.lang': 'Lang', 'col.status': 'Status', 'col.tags': 'Tags',
    'col.views': 'Views', 'col.votes': 'Helpful', 'col.updated': 'Updated', 'col.score': 'Score', 'col.matched': 'Matched',
    'status.draft': 'draft', 'status.published': 'published',
    'edit.new': 'New article', 'edit.title': 'Title', 'edit.id': 'Id (slug)', 'edit.lang': 'Language', 'edit.team': 'Team',
    'edit.tags': 'Tags (comma-separated)', 'edit.escalate': 'Escalate to a person after collecting the details',
    'edit.questions': 'Sample questions (one per line)', 'edit.body': 'Answer (Markdown)', 'edit.preview': 'Preview',
    'edit.details': 'Details the bot collects', 'edit.addDetail': 'Add detail', 'edit.save': 'Save', 'edit.publish': 'Publish',
    'edit.unpublish': 'Unpublish', 'edit.delete': 'Delete', 'edit.history': 'History', 'edit.download': 'Download .md',
    'edit.saved': 'Saved (version {v}).', 'edit.published': 'Published.', 'edit.unpublished': 'Unpublished: customers no longer see it.',
    'edit.deleted': 'Deleted. It can be restored from the list of deleted articles.', 'edit.confirmDelete': 'Delete this article?',
    'edit.conflict': 'Someone saved this article meanwhile (now version {v}). Reload to see their change; your text is still here.',
    'edit.unsaved': 'Unsaved changes', 'edit.stats': '{views} views · {yes} helpful · {no} not helpful', 'edit.version': 'version {v}',
    'detail.name': 'name', 'detail.promptEn': 'prompt (en)', 'detail.promptZh': 'prompt (zh)', 'detail.pattern': 'pattern (regexp)',
    'detail.example': 'example', 'detail.remove': 'Remove',
    'hist.title': 'History of {id}', 'hist.version': 'Version', 'hist.action': 'Change', 'hist.author': 'By', 'hist.when': 'When',
    'hist.diff': 'Compare with current', 'hist.restore': 'Restore', 'hist.restored': 'Version {n} restored as version {v}.',
    'hist.back': '← Back to the article', 'hist.current': 'current',
    'gaps.title': 'Content gaps', 'gaps.intro': 'Questions customers asked that the bot could not answer, grouped by similarity.',
    'gaps.days': 'Last {d} days', 'gaps.empty': 'No unanswered questions in this period. 🎉', 'gaps.asked': 'asked {n}×',
    'gaps.first': 'first', 'gaps.last': 'last', 'gaps.create': 'New article from these questions', 'gaps.candidate': 'closest article:',
    'try.title': 'Try a question', 'try.intro': 'See which articles the bot would pick for a question, and with what score.',
    'try.ask': 'Search', 'try.drafts': 'Include drafts', 'try.none': 'No article matches: the bot would escalate or ask.',
    'try.placeholder': 'e.g. I was charged twice', 'lang.any': 'Any language',
    'import.done': 'Import: {c} created, {u} updated, {n} unchanged.', 'import.failed': 'Nothing imported:',
    'error': 'Error: {msg}',
  },
  zh: {
    'nav.articles': '文章', 'nav.gaps': '内容缺口', 'nav.try': '试问一个问题', 'nav.help': '帮助中心 ↗',
    'list.title': '文章', 'list.new': '新建文章', 'list.import': '导入 .md 文件', 'list.search': '搜索文章…',
    'list.allLangs': '全部语言', 'list.allStatus': '全部状态', 'list.tag': '标签', 'list.trash': '已删除',
    'list.empty': '没有匹配的文章。', 'col.title': '标题', 'col.lang': '语言', 'col.status': '状态', 'col.tags': '标签',
    'col.views': '浏览', 'col.votes': '有帮助', 'col.updated': '更新时间', 'col.score': '得分', 'col.matched': '匹配',
    'status.draft': '草稿', 'status.published': '已发布',
    'edit.new': '新建文章', 'edit.title': '标题', 'edit.id': 'ID（英文短名）', 'edit.lang': '语言', 'edit.team': '团队',
    'edit.tags': '标签（逗号分隔）', 'edit.escalate': '收集信息后转人工',
    'edit.questions': '示例问题（每行一个）', 'edit.body': '答案（Markdown）', 'edit.preview': '预览',
    'edit.details': '机器人需收集的信息', 'edit.addDetail': '添加信息项', 'edit.save': '保存', 'edit.publish': '发布',
    'edit.unpublish': '取消发布', 'edit.delete': '删除', 'edit.history': '历史版本', 'edit.download': '下载 .md',
    'edit.saved': '已保存（版本 {v}）。', 'edit.published': '已发布。', 'edit.unpublished': '已取消发布：客户将看不到它。',
    'edit.deleted': '已删除，可在“已删除”列表中恢复。', 'edit.confirmDelete': '确定删除这篇文章吗？',
    'edit.conflict': '有人同时保存了这篇文章（当前版本 {v}）。请刷新查看；您的内容仍保留在此。',
    'edit.unsaved': '有未保存的修改', 'edit.stats': '浏览 {views} · 有帮助 {yes} · 没帮助 {no}', 'edit.version': '版本 {v}',
    'detail.name': '名称', 'detail.promptEn': '提示（英文）', 'detail.promptZh': '提示（中文）', 'detail.pattern': '格式（正则）',
    'detail.example': '示例', 'detail.remove': '移除',
    'hist.title': '{id} 的历史版本', 'hist.version': '版本', 'hist.action': '操作', 'hist.author': '作者', 'hist.when': '时间',
    'hist.diff': '与当前版本比较', 'hist.restore': '恢复', 'hist.restored': '已将版本 {n} 恢复为版本 {v}。',
    'hist.back': '← 返回文章', 'hist.current': '当前',
    'gaps.title': '内容缺口', 'gaps.intro': '机器人未能回答的客户问题，按相似度分组。',
    'gaps.days': '最近 {d} 天', 'gaps.empty': '这段时间没有未回答的问题。🎉', 'gaps.asked': '被问 {n} 次',
    'gaps.first': '首次', 'gaps.last': '最近', 'gaps.create': '用这些问题新建文章', 'gaps.candidate': '最接近的文章：',
    'try.title': '试问一个问题', 'try.intro': '查看机器人会为这个问题选择哪些文章，以及得分。',
    'try.ask': '搜索', 'try.drafts': '包含草稿', 'try.none': '没有匹配的文章：机器人会追问或转人工。',
    'try.placeholder': '例如：我被重复扣款了', 'lang.any': '任意语言',
    'import.done': '导入完成：新建 {c}，更新 {u}，未变 {n}。', 'import.failed': '未导入任何内容：',
    'error': '出错了：{msg}',
  },
};

let lang = localStorage.getItem('kb.lang') || ((navigator.language || 'en').toLowerCase().startsWith('zh') ? 'zh' : 'en');

export function setLang(l) { lang = strings[l] ? l : 'en'; localStorage.setItem('kb.lang', lang); }
export function getLang() { return lang; }

// t returns the string for key with {placeholders} filled in.
export function t(key, vars = {}) {
  const s = (strings[lang] && strings[lang][key]) || strings.en[key] || key;
  return s.replace(/\{(\w+)\}/g, (_, k) => (vars[k] ?? ''));
}
