// Package bot is the triage bot: the first responder on every channel. For each customer
// message of a conversation it owns it takes one decision — answer from the knowledge
// base, clarify between close articles, ask for a missing detail, escalate to a person,
// or handle small talk — says it in the customer's language, and records why.
package bot

import (
	"context"
	"fmt"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rs/zerolog"

	"github.com/conciergehq/concierge"
	"github.com/conciergehq/concierge/channels"
	"github.com/conciergehq/concierge/kb"
)

// Knowledge is what the bot reads from the knowledge base.
type Knowledge interface {
	// Published returns every published article, all languages.
	Published(ctx context.Context) ([]kb.Article, error)
	// Feedback records whether an answer helped ("Did this help?").
	Feedback(ctx context.Context, articleID string, helpful bool) error
}

// Renderer turns an article's Markdown into what channels show.
type Renderer interface {
	// HTML is sanitised HTML for the widget.
	HTML(markdown string) string
	// Text is plain text for IM channels (Telegram, WeChat).
	Text(markdown string) string
}

// Options configure the bot; zero values take the defaults noted.
type Options struct {
	// Name the bot introduces itself with (default "Concierge").
	Name string
	// BaseURL is the server's public URL; answers link to BaseURL + "/help/<id>".
	BaseURL string
	// AnswerThreshold is the confidence (a calibrated probability that the best article
	// is right, 0–1) from which the bot answers (default 0.5).
	AnswerThreshold float64
	// ClarifyThreshold: when neither of the two best articles reaches AnswerThreshold,
	// the bot offers them ("Did you mean…") if each reaches ClarifyThreshold and
	// together they reach AnswerThreshold; otherwise it escalates (default 0.3).
	ClarifyThreshold float64
	// MaxReasks is how many times an invalid detail is asked again (default 2).
	MaxReasks int
	// DefaultLanguage speaks to customers whose language is unknown (default "en").
	DefaultLanguage string
	// DefaultTeam takes escalations no article or tag routes (default "general").
	DefaultTeam string
	// TeamDetails are the details a team needs before a person takes over
	// (technical: account_id, region, error_code).
	TeamDetails map[string][]string
	// TagTeams route articles by tag when they name no team (billing-tag → billing).
	TagTeams map[string]string
	// EscalateTags mark articles that always go to a person (after their details).
	EscalateTags []string
	// EscalateTiers are customer tiers that always get a person (enterprise, vip).
	EscalateTiers []string
	// Details add or override detail kinds (patterns, examples, prompts).
	Details []DetailKind
	// LLMTimeout bounds one language-model call (default 8s); the bot falls back to its
	// own answer after it.
	LLMTimeout time.Duration
}

func (o *Options) defaults() {
	if o.Name == "" {
		o.Name = "Concierge"
	}
	if o.AnswerThreshold == 0 {
		o.AnswerThreshold = 0.5
	}
	if o.ClarifyThreshold == 0 {
		o.ClarifyThreshold = 0.3
	}
	if o.MaxReasks == 0 {
		o.MaxReasks = 2
	}
	if o.DefaultLanguage == "" {
		o.DefaultLanguage = "en"
	}
	if o.DefaultTeam == "" {
		o.DefaultTeam = "general"
	}
	if o.LLMTimeout == 0 {
		o.LLMTimeout = 8 * time.Second
	}
	o.BaseURL = strings.TrimRight(o.BaseURL, "/")
}

// Bot is the triage bot. It implements channels.Responder.
type Bot struct {
	kb      Knowledge
	render  Renderer
	opts    Options
	cat     *Catalog
	details *Details
	log     zerolog.Logger
	now     func() time.Time

	idx     atomic.Pointer[index]
	loadMu  sync.Mutex
	changed chan struct{}

	llmMu  sync.RWMutex
	comp   Composer
	reader DetailReader
	sem    *semantic
}

var _ channels.Responder = (*Bot)(nil)

// New returns a bot over a knowledge base. Call Reload (or Run) before it answers.
func New(k Knowledge, r Renderer, opts Options, log zerolog.Logger) (*Bot, error) {
	opts.defaults()
	if opts.ClarifyThreshold > opts.AnswerThreshold {
		return nil, fmt.Errorf("bot: clarify threshold %.2f is above the answer threshold %.2f", opts.ClarifyThreshold, opts.AnswerThreshold)
	}
	cat, err := LoadCatalog()
	if err != nil {
		return nil, err
	}
	return &Bot{kb: k, render: r, opts: opts, cat: cat, details: NewDetails(opts.Details...),
		log: log.With().Str("component", "bot").Logger(), now: time.Now, changed: make(chan struct{}, 1)}, nil
}

// Catalog is the bot's phrase book.
func (b *Bot) Catalog() *Catalog { return b.cat }

// Reload rebuilds the ranking index from the published articles.
func (b *Bot) Reload(ctx context.Context) error {
	b.loadMu.Lock()
	defer b.loadMu.Unlock()
	arts, err := b.kb.Published(ctx)
	if err != nil {
		return fmt.Errorf("bot: load articles: %w", err)
	}
	start := b.now()
	idx := buildIndex(arts, start)
	b.idx.Store(idx)
	if sem := b.semantic(); sem != nil {
		if err := sem.load(ctx, arts); err != nil {
			b.log.Warn().Err(err).Msg("article embeddings not loaded; ranking by keywords only")
		}
	}
	b.log.Info().Int("articles", idx.size).Int("languages", len(idx.rankers)).Dur("took", b.now().Sub(start)).Msg("triage index built")
	return nil
}

// Knows reports whether id is a published article the bot can answer with.
func (b *Bot) Knows(id string) bool { return b.idx.Load().article(id) != nil }

// Size is the number of published articles the bot ranks.
func (b *Bot) Size() int {
	if x := b.idx.Load(); x != nil {
		return x.size
	}
	return 0
}

// Changed tells the bot the knowledge base changed; Run rebuilds shortly after.
func (b *Bot) Changed() {
	select {
	case b.changed <- struct{}{}:
	default:
	}
}

// Run builds the index and rebuilds it after changes (debounced: an import of a thousand
// articles causes one rebuild, not a thousand) until ctx ends.
func (b *Bot) Run(ctx context.Context) error {
	if b.idx.Load() == nil {
		if err := b.Reload(ctx); err != nil && ctx.Err() == nil {
			b.log.Error().Err(err).Msg("triage index not built; retrying on the next change")
		}
	}
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-b.changed:
		}
		t := time.NewTimer(300 * time.Millisecond)
	debounce:
		for {
			select {
			case <-ctx.Done():
				t.Stop()
				return nil
			case <-b.changed:
			case <-t.C:
				break debounce
			}
		}
		if err := b.Reload(ctx); err != nil && ctx.Err() == nil {
			b.log.Error().Err(err).Msg("triage index not rebuilt; keeping the previous one")
		}
	}
}

// Respond decides what to do with one customer message.
func (b *Bot) Respond(ctx context.Context, t channels.Turn) (concierge.Reply, error) {
	idx := b.idx.Load()
	if idx == nil {
		if err := b.Reload(ctx); err != nil {
			return concierge.Reply{}, err
		}
		idx = b.idx.Load()
	}
	tr := b.newTurn(ctx, idx, t)
	tr.decide()
	return tr.finish(), nil
}

// turn is the work on one message.
type turn struct {
	b     *Bot
	ctx   context.Context
	idx   *index
	t     channels.Turn
	st    state
	text  string
	lang  string
	mood  mood
	known map[string]string // every detail known for the conversation
	fresh map[string]string // details learnt in this turn
	reply concierge.Reply
	// search results of this turn, when a search was made
	ranked  []match
	rk      *ranker
	conf    float64
	query   string
	article *kb.Article
}

func (b *Bot) newTurn(ctx context.Context, idx *index, t channels.Turn) *turn {
	tr := &turn{b: b, ctx: ctx, idx: idx, t: t, st: loadState(t.Conversation.BotState),
		text: strings.TrimSpace(t.Message.Text), fresh: map[string]string{}}
	tr.lang = DetectLanguage(tr.text)
	if tr.lang == "" {
		tr.lang = firstNonEmpty(tr.st.Lang, t.Conversation.Language, baseLang(t.Contact.Attributes["language"]), b.opts.DefaultLanguage)
	}
	tr.st.Lang = tr.lang
	tr.mood = readMood(tr.text)
	tr.known = map[string]string{}
	for k, v := range t.Conversation.Details {
		tr.known[k] = v
	}
	if t.Contact.Email != "" && tr.known["email"] == "" {
		tr.fresh["email"] = t.Contact.Email
		tr.known["email"] = t.Contact.Email
	}
	// A detail written anywhere in the conversation is never asked for. What the bot
	// read before is on the conversation already; only messages it never answered
	// (edits, what was stored before a bot was configured) are read here.
	for _, m := range t.History {
		if m.Sender == concierge.SenderUser && m.ID != t.Message.ID && m.Seq > tr.st.Seen {
			tr.learn(b.details.Extract(m.Text))
		}
	}
	tr.learn(b.details.Extract(tr.text))
	if t.Message.Seq > tr.st.Seen {
		tr.st.Seen = t.Message.Seq
	}
	return tr
}

func (tr *turn) learn(found map[string]string) {
	for k, v := range found {
		if tr.known[k] == "" {
			tr.known[k] = v
			tr.fresh[k] = v
		}
	}
}

func (tr *turn) say(key string, pairs ...string) string {
	return tr.b.cat.Say(tr.lang, key, append([]string{"bot", tr.b.opts.Name}, pairs...)...)
}

func (tr *turn) send(text string, quick ...concierge.QuickReply) {
	tr.reply.Messages = append(tr.reply.Messages, concierge.Outgoing{Sender: concierge.SenderBot,
		SenderName: tr.b.opts.Name, Text: text, QuickReplies: quick})
}

func (tr *turn) finish() concierge.Reply {
	if tr.mood.sentiment == sentimentNegative {
		tr.st.Negative++
	} else {
		tr.st.Negative = 0
	}
	tr.reply.Language = tr.lang
	tr.reply.BotState = tr.st.encode()
	if len(tr.fresh) > 0 {
		tr.reply.Details = tr.fresh
	}
	d := &tr.reply.Decision
	if d.Language == "" {
		d.Language = tr.lang
	}
	if d.Query == "" {
		d.Query = tr.text
	}
	return tr.reply
}

// decide runs the policy, most explicit signals first.
func (tr *turn) decide() {
	msg := tr.t.Message
	payload := msg.Payload
	if msg.Action() == concierge.ActionHuman || (tr.text != "" && asksForHuman(tr.text)) {
		if tr.st.Await == "detail" && strings.HasPrefix(tr.st.Then, "escalate:") {
			tr.escalateNow(reasonHuman) // asked again while we collect: no more questions
			return
		}
		tr.escalate(reasonHuman)
		return
	}
	if msg.Action() == concierge.ActionStart || isCommand(tr.text) {
		// A follow, /start (perhaps with a deep-link argument) or another bot command:
		// greet; there is no question in it.
		tr.smallTalk(talkGreeting)
		return
	}
	if tr.frustrated() {
		tr.escalateNow(reasonFrustrated)
		return
	}
	switch tr.st.Await {
	case "helpful":
		if tr.onHelpful(payload) {
			return
		}
	case "pick":
		if tr.onPick(payload) {
			return
		}
	case "detail":
		if tr.onDetail() {
			return
		}
	}
	if tr.text == "" {
		// A sticker, photo or location without words: nothing to search. Ask for words
		// once; the second time a person takes over (they can see the attachment).
		tr.rephrase()
		return
	}
	if intent := detectSmallTalk(tr.text, tr.b.opts.Name); intent != talkNone {
		if intent == talkThanks && tr.st.Await == "helpful" {
			tr.resolve()
			return
		}
		tr.smallTalk(intent)
		return
	}
	tr.search()
}

// Escalation reasons (concierge.Escalation.Reason).
const (
	reasonHuman      = "asked_for_human"
	reasonLow        = "low_confidence"
	reasonFrustrated = "frustrated"
	reasonArticle    = "article_escalates"
	reasonTier       = "tier"
	reasonNotHelpful = "not_helpful"
)

// frustrated: profanity, shouting, the same question again, or negative words that
// persist (two in one message, or a second negative message in a row).
func (tr *turn) frustrated() bool {
	m := tr.mood
	if m.profane || m.shouting || m.negatives >= 2 || (m.sentiment == sentimentNegative && tr.st.Negative >= 1) {
		return true
	}
	if len(tokenize(tr.text)) < 3 {
		return false
	}
	mine := stemSet(tr.text)
	for _, h := range tr.t.History {
		if h.Sender == concierge.SenderUser && h.ID != tr.t.Message.ID && overlap(stemSet(h.Text), mine) >= 0.8 {
			return true
		}
	}
	return false
}

func (tr *turn) smallTalk(intent string) {
	tr.send(tr.say(intent))
	tr.reply.Decision = concierge.Decision{Action: "smalltalk", Reason: intent}
	if intent == talkGoodbye || intent == talkThanks {
		tr.st.settle()
	}
}

func (tr *turn) rephrase() {
	if tr.st.Await == "rephrase" || tr.st.Clarified > 0 {
		tr.escalate(reasonLow)
		return
	}
	tr.st.settle()
	tr.st.Await = "rephrase"
	tr.send(tr.say("rephrase"))
	tr.reply.Decision = concierge.Decision{Action: "clarify", Reason: "no_match", Gap: true}
}

// search ranks the articles for the message (with the previous topic for a follow-up)
// and acts on the confidence.
func (tr *turn) search() {
	tr.query = tr.text
	var rankLang string
	tr.rk, rankLang = tr.idx.ranker(tr.lang)
	if tr.rk == nil {
		tr.escalate(reasonLow)
		return
	}
	tr.ranked = tr.rank(tr.query)
	tr.conf = tr.rk.confidence(tr.ranked)
	if tr.st.Topic != "" && (isFollowUp(tr.text) || (len(tokenize(tr.text)) <= 4 && tr.conf < tr.b.opts.AnswerThreshold)) {
		q := tr.st.Topic + " " + tr.text
		ms := tr.rank(q)
		if c := tr.rk.confidence(ms); c > tr.conf || isFollowUp(tr.text) {
			tr.query, tr.ranked, tr.conf = q, ms, c
		}
	}
	tr.st.Topic = tr.query
	tr.st.Tried = nil
	if len(tr.ranked) == 0 {
		if rankLang != baseLang(tr.lang) {
			// No article in the customer's language: rephrasing would not help.
			tr.escalate(reasonLow)
			return
		}
		tr.rephrase()
		return
	}
	best := &tr.rk.articles[tr.ranked[0].art]
	if tr.conf >= tr.b.opts.ClarifyThreshold {
		tr.article = best // a guess below that is no topic: it must not route the escalation
	}
	if tr.tierRequiresPerson() {
		tr.escalate(reasonTier)
		return
	}
	o := tr.b.opts
	// A second doubt right after a clarify goes to a person.
	switch tr.rk.decide(tr.ranked, tr.conf, o.AnswerThreshold, o.ClarifyThreshold, tr.st.Clarified == 0) {
	case actAnswer:
		tr.st.Clarified = 0
		tr.handleArticle(best, tr.conf, "confident")
	case actClarify:
		tr.clarify()
	default:
		tr.escalate(reasonLow)
	}
}

func (tr *turn) rank(q string) []match {
	ms := tr.rk.rank(q, 5, nil)
	if sem := tr.b.semantic(); sem != nil && len(ms) > 0 {
		ms = sem.fuse(tr.ctx, tr.rk, q, ms, tr.b.opts.LLMTimeout)
	}
	return ms
}

func (tr *turn) tierRequiresPerson() bool {
	tier := tr.t.Contact.Tier()
	for _, t := range tr.b.opts.EscalateTiers {
		if tier != "" && strings.EqualFold(t, tier) {
			return true
		}
	}
	return false
}

// candidates are the ranked articles with their share of confidence, for escalations
// and "no, that didn't help".
func (tr *turn) candidates(n int) []concierge.Candidate {
	var out []concierge.Candidate
	for i, m := range tr.ranked {
		if i >= n {
			break
		}
		score := m.score
		if i == 0 {
			score = tr.conf
		} else {
			// The runner-ups' confidence: their classifier share scaled like the top one.
			score = tr.conf * m.score / max(tr.ranked[0].score, 1e-9)
		}
		a := tr.rk.articles[m.art]
		out = append(out, concierge.Candidate{ArticleID: a.ID, Title: a.Title, Score: round3(score)})
	}
	return out
}

// closeCandidates are the articles worth offering in a clarify: the best and those
// scoring at least half as well, three at most.
func (tr *turn) closeCandidates() []concierge.Candidate {
	all := tr.candidates(3)
	var out []concierge.Candidate
	for i, c := range all {
		if i == 0 || closeTo(tr.ranked[i], tr.ranked[0]) {
			out = append(out, c)
		}
	}
	return out
}

func (tr *turn) clarify() {
	cands := tr.closeCandidates()
	tr.st.settle()
	tr.st.Await = "pick"
	tr.st.Clarified++
	tr.st.Candidates = cands
	var qr []concierge.QuickReply
	for i, c := range cands {
		tr.st.Choices = append(tr.st.Choices, choice{ID: c.ArticleID, Title: c.Title})
		qr = append(qr, concierge.QuickReply{Label: c.Title, Payload: fmt.Sprintf("pick:%d", i+1)})
	}
	qr = append(qr, concierge.QuickReply{Label: tr.say("none_of_these"), Payload: "pick:none"})
	tr.send(tr.say("clarify"), qr...)
	tr.reply.Decision = concierge.Decision{Action: "clarify", ArticleID: cands[0].ArticleID, Score: round3(tr.conf),
		Reason: "close_candidates", Query: tr.query, Gap: true}
}

// handleArticle acts on a chosen article: collect its details, then answer, or
// escalate when the article says a person must handle it.
func (tr *turn) handleArticle(a *kb.Article, conf float64, reason string) {
	tr.article = a
	tr.st.Article, tr.st.Score = a.ID, conf
	if len(tr.ranked) > 0 && len(tr.st.Candidates) == 0 {
		tr.st.Candidates = tr.candidates(3)
	}
	if tr.articleEscalates(a) {
		need := tr.missing(a, tr.teamFor(a))
		if len(need) > 0 {
			tr.askDetails(need, "escalate:"+reasonArticle, conf)
			return
		}
		tr.escalate(reasonArticle)
		return
	}
	need := tr.missing(a, "")
	if len(need) > 0 {
		tr.askDetails(need, "answer", conf)
		return
	}
	tr.answer(a, conf, reason)
}

func (tr *turn) articleEscalates(a *kb.Article) bool {
	if a.Escalate {
		return true
	}
	for _, t := range a.Tags {
		for _, e := range tr.b.opts.EscalateTags {
			if strings.EqualFold(t, e) {
				return true
			}
		}
	}
	return false
}

// teamFor routes an article: its own team, a tag the configuration maps, or the default.
func (tr *turn) teamFor(a *kb.Article) string {
	if a != nil {
		if a.Team != "" {
			return a.Team
		}
		for _, t := range a.Tags {
			if team, ok := tr.b.opts.TagTeams[strings.ToLower(t)]; ok {
				return team
			}
		}
	}
	return tr.b.opts.DefaultTeam
}

// missing lists the details still needed: the article's own, then the team's (when the
// conversation is heading to that team), minus those known or given up on.
func (tr *turn) missing(a *kb.Article, team string) []string {
	var names []string
	if a != nil {
		for _, d := range a.Details {
			names = append(names, d.Name)
		}
	}
	if team != "" {
		names = append(names, tr.b.opts.TeamDetails[team]...)
	}
	var out []string
	seen := map[string]bool{}
	for _, n := range names {
		if seen[n] || tr.known[n] != "" || contains(tr.st.Skipped, n) {
			continue
		}
		seen[n] = true
		out = append(out, n)
	}
	return out
}

func (tr *turn) detailKind(name string) *DetailKind {
	if a := tr.idx.article(tr.st.Article); a != nil {
		for _, d := range a.Details {
			if d.Name == name {
				if k, err := tr.b.details.ForArticle(d); err == nil {
					return k
				} else {
					tr.b.log.Warn().Err(err).Str("article", a.ID).Msg("article detail pattern ignored")
				}
			}
		}
	}
	return tr.b.details.Kind(name)
}

func (tr *turn) detailLabel(name string) string {
	if s, ok := tr.b.cat.Lookup(tr.lang, "detail."+name); ok {
		return s
	}
	return strings.ReplaceAll(name, "_", " ")
}

func (tr *turn) askDetails(need []string, then string, conf float64) {
	first := tr.st.Await != "detail"
	tr.st.Await, tr.st.Need, tr.st.Asks, tr.st.Then, tr.st.Choices = "detail", need, 0, then, nil
	k := tr.detailKind(need[0])
	text := ""
	if p := k.Prompt[tr.lang]; p != "" {
		text = p
	} else if p := k.Prompt[baseLang(tr.lang)]; p != "" {
		text = p
	} else if first && tr.article != nil && tr.article.Title != "" {
		text = tr.say("ask_detail_first", "topic", tr.article.Title, "detail", tr.detailLabel(need[0]))
	} else {
		text = tr.say("ask_detail", "detail", tr.detailLabel(need[0]))
	}
	tr.send(text)
	tr.reply.Decision = concierge.Decision{Action: "ask", ArticleID: tr.st.Article, Score: round3(conf),
		Reason: "missing_detail:" + need[0], Query: tr.query}
}

// onDetail reads the answer to a detail question. It reports false when the message is
// not an answer but a new question (the caller searches it).
func (tr *turn) onDetail() bool {
	if len(tr.st.Need) == 0 {
		tr.st.settle()
		return false
	}
	name := tr.st.Need[0]
	k := tr.detailKind(name)
	v, ok := "", false
	if tr.known[name] != "" {
		v, ok = tr.known[name], true // given in this message's free text already
	} else {
		v, ok = k.Validate(tr.text)
		if !ok && tr.text != "" {
			if r := tr.b.detailReader(); r != nil {
				ctx, cancel := context.WithTimeout(tr.ctx, tr.b.opts.LLMTimeout)
				got, err := r.ReadDetails(ctx, tr.text, []string{name})
				cancel()
				if err == nil && got[name] != "" {
					v, ok = k.Validate(got[name])
				}
			}
		}
	}
	if ok {
		tr.known[name], tr.fresh[name] = v, v
		return tr.continueDetails()
	}
	if tr.looksLikeNewQuestion() {
		tr.st.settle()
		return false
	}
	tr.st.Asks++
	if tr.st.Asks > tr.b.opts.MaxReasks || doesNotKnow(tr.text) {
		tr.st.Skipped = append(tr.st.Skipped, name)
		tr.send(tr.say("detail_skipped"))
		return tr.continueDetails()
	}
	hint := tr.say("hint_generic")
	if k.Example != "" {
		hint = tr.say("hint_example", "example", k.Example)
	}
	tr.send(tr.say("reask", "detail", tr.detailLabel(name), "hint", hint))
	tr.reply.Decision = concierge.Decision{Action: "ask", ArticleID: tr.st.Article, Score: round3(tr.st.Score),
		Reason: "invalid_detail:" + name}
	return true
}

// looksLikeNewQuestion: a reply that is a confident question about another article.
func (tr *turn) looksLikeNewQuestion() bool {
	if len(tokenize(tr.text)) < 4 {
		return false
	}
	rk, _ := tr.idx.ranker(tr.lang)
	if rk == nil {
		return false
	}
	ms := rk.rank(tr.text, 5, nil)
	return len(ms) > 0 && rk.articles[ms[0].art].ID != tr.st.Article && rk.confidence(ms) >= tr.b.opts.AnswerThreshold
}

// continueDetails asks for the next missing detail or does what they were collected for.
func (tr *turn) continueDetails() bool {
	var rest []string
	for _, n := range tr.st.Need[1:] {
		if tr.known[n] == "" && !contains(tr.st.Skipped, n) {
			rest = append(rest, n)
		}
	}
	a := tr.idx.article(tr.st.Article)
	tr.article = a
	if len(rest) > 0 {
		tr.st.Need, tr.st.Asks = rest, 0
		k := tr.detailKind(rest[0])
		text := k.Prompt[tr.lang]
		if text == "" {
			text = tr.say("ask_detail", "detail", tr.detailLabel(rest[0]))
		}
		tr.send(text)
		tr.reply.Decision = concierge.Decision{Action: "ask", ArticleID: tr.st.Article, Score: round3(tr.st.Score),
			Reason: "missing_detail:" + rest[0]}
		return true
	}
	then, conf := tr.st.Then, tr.st.Score
	tr.st.Need, tr.st.Asks, tr.st.Then = nil, 0, ""
	switch {
	case strings.HasPrefix(then, "escalate:"):
		tr.escalateNow(strings.TrimPrefix(then, "escalate:"))
	case a != nil:
		tr.answer(a, conf, "details_collected")
	default:
		// The article was unpublished while we asked.
		tr.escalateNow(reasonLow)
	}
	return true
}

// answer sends an article and asks whether it helped.
func (tr *turn) answer(a *kb.Article, conf float64, reason string) {
	text, html := tr.articleReply(a)
	tr.reply.Messages = append(tr.reply.Messages, concierge.Outgoing{Sender: concierge.SenderBot,
		SenderName: tr.b.opts.Name, Text: text, HTML: html})
	tr.send(tr.say("did_it_help"),
		concierge.QuickReply{Label: tr.say("yes"), Payload: "helpful:yes"},
		concierge.QuickReply{Label: tr.say("no"), Payload: "helpful:no"})
	cands := tr.st.Candidates
	tried := tr.st.Tried
	tr.st.settle()
	tr.st.Await, tr.st.Article, tr.st.Score, tr.st.Candidates, tr.st.Tried = "helpful", a.ID, conf, cands, tried
	tr.st.Clarified = 0
	tr.reply.Decision = concierge.Decision{Action: "answer", ArticleID: a.ID, Score: round3(conf), Reason: reason, Query: tr.query}
}

func (tr *turn) articleURL(a *kb.Article) string { return tr.b.opts.BaseURL + "/help/" + a.ID }

// articleReply renders an article for the channel: the LLM's grounded answer when one is
// configured and answers in time, the article itself otherwise.
func (tr *turn) articleReply(a *kb.Article) (text, html string) {
	url := tr.articleURL(a)
	if c := tr.b.composer(); c != nil && tr.query != "" {
		if t, h, ok := tr.composed(c, a); ok {
			return t, h
		}
	}
	body, html := tr.idx.render(a, tr.b.render)
	text = strings.TrimSpace(a.Title + "\n\n" + body)
	text += "\n\n" + tr.say("read_more", "url", url)
	html += `<p class="article-link"><a href="` + htmlEscape(url) + `" target="_blank" rel="noopener">` +
		htmlEscape(tr.say("read_more", "url", a.Title)) + `</a></p>`
	return text, html
}

// onHelpful reads the answer to "Did this help?"; false when the message is something
// else (a new question).
func (tr *turn) onHelpful(payload string) bool {
	switch yesNo(payload, tr.text, tr.b.cat, tr.lang) {
	case "yes":
		tr.resolve()
		return true
	case "no":
		tr.notHelpful()
		return true
	}
	tr.st.settle()
	return false
}

func (tr *turn) resolve() {
	id := tr.st.Article
	if id != "" {
		if err := tr.b.kb.Feedback(tr.ctx, id, true); err != nil {
			tr.b.log.Warn().Err(err).Str("article", id).Msg("feedback not recorded")
		}
	}
	tr.send(tr.say("resolved"))
	tr.reply.Resolved = true
	tr.reply.Decision = concierge.Decision{Action: "resolved", ArticleID: id, Score: round3(tr.st.Score), Reason: "helpful"}
	tr.st.settle()
	tr.st.Topic, tr.st.Candidates, tr.st.Tried = "", nil, nil
}

func (tr *turn) notHelpful() {
	id := tr.st.Article
	if id != "" {
		if err := tr.b.kb.Feedback(tr.ctx, id, false); err != nil {
			tr.b.log.Warn().Err(err).Str("article", id).Msg("feedback not recorded")
		}
		tr.st.Tried = append(tr.st.Tried, id)
	}
	for _, c := range tr.st.Candidates {
		if contains(tr.st.Tried, c.ArticleID) || c.Score < tr.b.opts.ClarifyThreshold {
			continue
		}
		if a := tr.idx.article(c.ArticleID); a != nil {
			tr.send(tr.say("next_candidate"))
			tr.query = tr.st.Topic
			tr.handleArticle(a, c.Score, "next_candidate")
			if tr.reply.Decision.Action == "answer" {
				tr.reply.Decision.Gap = true
			}
			return
		}
	}
	tr.query = tr.st.Topic
	tr.escalateNow(reasonNotHelpful)
}

// onPick reads the choice after a clarify; false when the message is a new question.
func (tr *turn) onPick(payload string) bool {
	n := -1
	if v, ok := strings.CutPrefix(payload, "pick:"); ok {
		if v == "none" {
			n = 0
		} else {
			fmt.Sscanf(v, "%d", &n)
		}
	} else {
		n = pickFromText(tr.text, tr.st.Choices, tr.say("none_of_these"))
	}
	switch {
	case n == 0:
		tr.query = tr.st.Topic
		tr.escalateNow(reasonLow)
		return true
	case n >= 1 && n <= len(tr.st.Choices):
		c := tr.st.Choices[n-1]
		a := tr.idx.article(c.ID)
		if a == nil {
			return false
		}
		tr.query = tr.st.Topic
		tr.st.Clarified = 0
		score := 0.0
		for _, cand := range tr.st.Candidates {
			if cand.ArticleID == c.ID {
				score = cand.Score
			}
		}
		tr.st.Await, tr.st.Choices = "", nil
		tr.handleArticle(a, score, "picked")
		return true
	}
	tr.st.Await, tr.st.Choices = "", nil
	return false
}

// escalate hands the conversation to a person, first asking for the details the team
// needs (unless the customer is upset or already said the bot did not help).
func (tr *turn) escalate(reason string) {
	team := tr.teamFor(tr.article)
	if reason != reasonFrustrated && reason != reasonNotHelpful {
		if need := tr.missing(nil, team); len(need) > 0 && tr.st.Await != "detail" {
			if tr.article != nil {
				tr.st.Article = tr.article.ID
			}
			tr.st.Score = tr.conf
			if len(tr.ranked) > 0 {
				tr.st.Candidates = tr.candidates(3)
			}
			tr.askDetails(need, "escalate:"+reason, tr.conf)
			return
		}
	}
	tr.escalateNow(reason)
}

func (tr *turn) escalateNow(reason string) {
	a := tr.article
	if a == nil {
		a = tr.idx.article(tr.st.Article)
	}
	team := tr.teamFor(a)
	if reason == reasonLow {
		team = tr.b.opts.DefaultTeam // no topic was established: nothing to route by
	}
	cands := tr.st.Candidates
	if len(tr.ranked) > 0 {
		cands = tr.candidates(3)
	}
	conf := tr.conf
	if len(tr.ranked) == 0 {
		conf = tr.st.Score
	}
	esc := &concierge.Escalation{Reason: reason, Team: team, Details: copyMap(tr.known), Candidates: cands,
		Language: tr.lang, Sentiment: tr.sentiment(reason)}
	esc.Note = tr.note(reason, a, conf)
	tr.reply.Escalation = esc
	// The reason's own phrase, else the general one — in the customer's language
	// before a more specific phrase in English.
	key := "escalate_" + reason
	if !tr.b.cat.Own(tr.lang, key) && (tr.b.cat.Own(tr.lang, "escalate_default") || !tr.b.cat.Own("en", key)) {
		key = "escalate_default"
	}
	tr.send(tr.say(key))
	articleID := ""
	switch {
	case a != nil:
		articleID = a.ID
	case len(tr.ranked) > 0:
		articleID = tr.rk.articles[tr.ranked[0].art].ID // the nearest article, for the content-gap report
	}
	tr.reply.Decision = concierge.Decision{Action: "escalate", ArticleID: articleID, Score: round3(conf), Reason: reason,
		Query: tr.query, Gap: reason == reasonLow || reason == reasonNotHelpful}
	tr.st.settle()
	tr.st.Clarified = 0
}

func (tr *turn) sentiment(reason string) string {
	if reason == reasonFrustrated || tr.mood.sentiment == sentimentNegative || tr.st.Negative > 0 {
		return sentimentNegative
	}
	return tr.mood.sentiment
}

// note is the one line an agent reads first.
func (tr *turn) note(reason string, a *kb.Article, conf float64) string {
	var b strings.Builder
	b.WriteString(strings.ReplaceAll(reason, "_", " "))
	q := tr.query
	if (reason == reasonFrustrated || reason == reasonHuman) && tr.text != "" {
		q = tr.text // what the customer just said matters more than the earlier topic
	}
	if q == "" {
		q = tr.st.Topic
	}
	if q == "" {
		q = tr.text
	}
	if q != "" {
		fmt.Fprintf(&b, ": %q", truncate(q, 80))
	}
	if a != nil {
		fmt.Fprintf(&b, "; topic %q (%.0f%%)", a.Title, 100*conf)
	}
	if len(tr.st.Tried) > 0 {
		fmt.Fprintf(&b, "; tried %s", strings.Join(tr.st.Tried, ", "))
	}
	return b.String()
}

// "I don't know" in the supported languages: the detail is skipped at once.
var dontKnow = map[string]bool{"i dont know": true, "dont know": true, "idk": true, "no idea": true, "not sure": true,
	"i have no idea": true, "i dont have it": true, "i dont have one": true, "dunno": true, "不知道": true, "不清楚": true,
	"没有": true, "忘了": true, "わかりません": true, "知りません": true, "모르겠어요": true, "몰라요": true}

func doesNotKnow(text string) bool { return dontKnow[normalizePhrase(text)] }

// Yes and no in the supported languages, for channels without buttons.
var (
	yesWords = map[string]bool{"yes": true, "y": true, "yeah": true, "yep": true, "yup": true, "sure": true, "it did": true,
		"it helped": true, "helped": true, "solved": true, "yes thanks": true, "yes thank you": true, "yes it did": true, "perfect": true,
		"是": true, "是的": true, "对": true, "有用": true, "解决了": true, "有帮助": true, "好的": true, "はい": true, "예": true,
		"네": true, "sí": true, "si": true, "oui": true, "ja": true, "sim": true}
	noWords = map[string]bool{"no": true, "n": true, "nope": true, "not really": true, "it didnt": true, "didnt help": true,
		"it didnt help": true, "not helpful": true, "no it didnt": true, "no thanks": false, "否": true, "不是": true, "没有": true,
		"没用": true, "不行": true, "没解决": true, "没有帮助": true, "いいえ": true, "아니요": true, "아니": true, "non": true,
		"nein": true, "não": true, "nao": true}
)

// yesNo reads a yes/no answer from a button payload, the option number or a word.
func yesNo(payload, text string, cat *Catalog, lang string) string {
	switch payload {
	case "helpful:yes":
		return "yes"
	case "helpful:no":
		return "no"
	}
	n := normalizePhrase(text)
	switch {
	case n == "1" || yesWords[n] || n == normalizePhrase(cat.Say(lang, "yes")):
		return "yes"
	case n == "2" || noWords[n] || n == normalizePhrase(cat.Say(lang, "no")):
		return "no"
	}
	return ""
}

// pickFromText reads a typed choice: its number, its title, or "none of these" (which is
// the number after the last choice). It returns -1 when the text is none of them.
func pickFromText(text string, choices []choice, none string) int {
	n := normalizePhrase(text)
	var num int
	if _, err := fmt.Sscanf(n, "%d", &num); err == nil && fmt.Sprint(num) == n {
		if num == len(choices)+1 {
			return 0
		}
		if num >= 1 && num <= len(choices) {
			return num
		}
		return -1
	}
	if n == normalizePhrase(none) || n == "none" || n == "neither" || n == "都不是" {
		return 0
	}
	for i, c := range choices {
		if n == normalizePhrase(c.Title) {
			return i + 1
		}
	}
	return -1
}

// isCommand: a chat-bot command such as "/help" or "/start@support_bot ref" (Telegram
// passes unknown ones through as text).
func isCommand(text string) bool {
	first, _, _ := strings.Cut(text, " ")
	return commandRe.MatchString(first)
}

var commandRe = regexp.MustCompile(`^/[A-Za-z][A-Za-z0-9_]{0,31}(@[A-Za-z0-9_]+)?$`)

func firstNonEmpty(vals ...string) string {
	for _, v := range vals {
		if v != "" {
			return v
		}
	}
	return ""
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

func copyMap(m map[string]string) map[string]string {
	if len(m) == 0 {
		return nil
	}
	out := make(map[string]string, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

func truncate(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n-1]) + "…"
}

func round3(f float64) float64 { return float64(int64(f*1000+0.5)) / 1000 }

var markdownEscaper = strings.NewReplacer(`\`, `\\`, `*`, `\*`, `_`, `\_`, "`", "\\`", `[`, `\[`, `]`, `\]`, `<`, `\<`)

func escapeMarkdown(s string) string { return markdownEscaper.Replace(s) }

var htmlEscaper = strings.NewReplacer(`&`, "&amp;", `<`, "&lt;", `>`, "&gt;", `"`, "&#34;", `'`, "&#39;")

func htmlEscape(s string) string { return htmlEscaper.Replace(s) }
