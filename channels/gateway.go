// Package channels is the switchboard between the outside channels (widget, Telegram,
// WeChat) and the people and bot who answer. Adapters hand it inbound messages; it stores
// them before anything is acknowledged, routes each conversation's messages in order to
// the bot or the handoff side, and sends replies back through the adapter of the
// conversation's channel via a durable outbox.
package channels

import (
	"context"
	"errors"
	"fmt"
	"hash/maphash"
	"sync"
	"time"

	"github.com/rs/zerolog"

	"github.com/conciergehq/concierge"
	"github.com/conciergehq/concierge/internal/metrics"
	"github.com/conciergehq/concierge/internal/store"
)

// Adapter is one configured channel instance.
type Adapter interface {
	// Name is the channel instance name stored on contacts and conversations
	// ("web", "telegram:support_bot", "wechat:gh_123").
	Name() string
	// Deliver sends one stored message to the contact and returns the channel's id for
	// it. Errors wrapping concierge.ErrUnreachable give up on the contact until it writes
	// again; a *RetryAfter error says when to try again; other errors are retried with
	// backoff.
	Deliver(ctx context.Context, d Delivery) (externalID string, err error)
}

// Delivery is what an adapter needs to send one message.
type Delivery struct {
	Conversation concierge.Conversation
	Contact      concierge.Contact
	Message      concierge.Message
	Attempt      int
}

// StoreReader is implemented by adapters whose clients read messages straight from the
// store (the widget resumes by sequence number). No outbox rows are written for them:
// storing the message is delivering it.
type StoreReader interface{ ReadsStore() bool }

// Typer is implemented by adapters that can show the customer a typing indicator.
type Typer interface {
	Typing(ctx context.Context, conv concierge.Conversation, contact concierge.Contact) error
}

// TypingStopper is implemented by adapters that keep a typing indicator up until told to
// stop (Telegram's lasts 5 s, so the adapter refreshes it while the bot works).
type TypingStopper interface {
	StopTyping(ctx context.Context, conv concierge.Conversation, contact concierge.Contact)
}

// RetryAfter is returned by Deliver when the channel asked us to wait (HTTP 429).
type RetryAfter struct {
	Delay time.Duration
	Err   error
}

func (e *RetryAfter) Error() string { return fmt.Sprintf("retry after %s: %v", e.Delay, e.Err) }
func (e *RetryAfter) Unwrap() error { return e.Err }

// Turn is one user message for the bot, with what it needs to decide.
type Turn struct {
	Conversation concierge.Conversation
	Contact      concierge.Contact
	Message      concierge.Message
	// History is the customer's recent messages, oldest first, ending with Message: their
	// ID, Seq, Sender and Text (store.CustomerHistory). The bot's own turns are not in it:
	// what a responder needs from them it keeps in Conversation.BotState.
	History []concierge.Message
}

// Responder answers messages of conversations the bot owns (the triage bot).
type Responder interface {
	Respond(ctx context.Context, t Turn) (concierge.Reply, error)
}

// Handoff is the people's side: it enqueues escalations, passes customer messages to the
// agent who has (or will have) the conversation, and records satisfaction ratings.
type Handoff interface {
	// Escalate moves a bot conversation to the queue. It must clear the conversation's
	// pending escalation in the same transaction (store: pending_escalation = NULL).
	Escalate(ctx context.Context, conv concierge.Conversation, esc concierge.Escalation) error
	// CustomerMessage is called for each customer message of a queued or assigned conversation.
	CustomerMessage(ctx context.Context, conv concierge.Conversation, msg concierge.Message) error
	// Rate records the answer to the survey of a closed conversation.
	Rate(ctx context.Context, conv concierge.Conversation, msg concierge.Message, rating int, comment string) error
}

// Store is what the gateway needs from the database.
type Store interface {
	Receive(ctx context.Context, in concierge.Inbound) (store.Received, error)
	Append(ctx context.Context, convID int64, out concierge.Outgoing, outbox bool) (concierge.Message, error)
	ApplyTurn(ctx context.Context, t store.Turn) ([]concierge.Message, concierge.Conversation, error)
	MarkHandled(ctx context.Context, convID, seq int64) error
	Unrouted(ctx context.Context) ([]int64, error)
	Conversation(ctx context.Context, id int64) (concierge.Conversation, error)
	Contact(ctx context.Context, id int64) (concierge.Contact, error)
	Messages(ctx context.Context, convID, afterSeq int64, limit int, withInternal bool) ([]concierge.Message, error)
	CustomerHistory(ctx context.Context, convID, seq int64, n int) ([]concierge.Message, error)
	UserMessages(ctx context.Context, convID, afterSeq int64, limit int) ([]concierge.Message, error)
	PendingOutbox(ctx context.Context, limit int) ([]store.OutboxItem, error)
	OutboxSent(ctx context.Context, messageID int64, externalID string) error
	OutboxRetry(ctx context.Context, messageID int64, cause string, next time.Time) error
	OutboxFailed(ctx context.Context, messageID int64, cause string) error
	SetUnreachable(ctx context.Context, contactID int64, reason string) error
}

// Publisher fans events out (internal/bus).
type Publisher interface {
	Publish(topic string, ev concierge.Event)
}

// Options tune the gateway; the zero value is sensible.
type Options struct {
	// Workers is how many conversations are routed at once (default 64). Messages of one
	// conversation always go to the same worker, in order.
	Workers int
	// TypingDelay: when the bot takes longer than this, the customer is shown a typing
	// indicator (default 300ms; negative shows it at once).
	TypingDelay time.Duration
	// HistoryTurns is how many of the customer's recent messages the bot sees (default 10).
	HistoryTurns int
	// MaxAttempts before a delivery is given up (default 12, about 40 minutes of backoff).
	MaxAttempts int
	// OutboxScan is how often the outbox is scanned for retries (default 1s).
	OutboxScan time.Duration
}

// Gateway routes messages between channels, the bot and people.
type Gateway struct {
	store   Store
	pub     Publisher
	metrics *metrics.Metrics
	log     zerolog.Logger
	opts    Options
	now     func() time.Time

	mu        sync.RWMutex
	adapters  map[string]Adapter
	responder Responder
	handoff   Handoff

	seed   maphash.Seed
	shards []*shard
	wake   chan struct{}
	// started lets Receive time the route of each message (store → bot reply stored).
	started sync.Map // conversation id → time the newest unrouted message was stored
	// latest holds each conversation's newest stored customer message until it is
	// routed, so routing the usual single new message needs no read (see unrouted).
	latest sync.Map // conversation id → *received
}

// received is a customer message as Receive stored it, with the seq of the customer's
// message before it.
type received struct {
	msg  concierge.Message
	prev int64
}

// New returns a gateway. Register adapters and set the responder and handoff before Run.
func New(st Store, pub Publisher, m *metrics.Metrics, log zerolog.Logger, opts Options) *Gateway {
	if opts.Workers <= 0 {
		opts.Workers = 64
	}
	if opts.TypingDelay == 0 {
		opts.TypingDelay = 300 * time.Millisecond
	}
	if opts.HistoryTurns <= 0 {
		opts.HistoryTurns = 10
	}
	if opts.MaxAttempts <= 0 {
		opts.MaxAttempts = 12
	}
	if opts.OutboxScan <= 0 {
		opts.OutboxScan = time.Second
	}
	g := &Gateway{store: st, pub: pub, metrics: m, log: log.With().Str("component", "gateway").Logger(),
		opts: opts, now: time.Now, adapters: map[string]Adapter{}, seed: maphash.MakeSeed(),
		wake: make(chan struct{}, 1)}
	for i := 0; i < opts.Workers; i++ {
		g.shards = append(g.shards, newShard())
	}
	return g
}

// Register adds a channel adapter. A second adapter with the same name is refused.
func (g *Gateway) Register(a Adapter) error {
	g.mu.Lock()
	defer g.mu.Unlock()
	if _, dup := g.adapters[a.Name()]; dup {
		return fmt.Errorf("channels: adapter %q registered twice", a.Name())
	}
	g.adapters[a.Name()] = a
	return nil
}

// SetResponder sets who answers bot-state conversations.
func (g *Gateway) SetResponder(r Responder) {
	g.mu.Lock()
	g.responder = r
	g.mu.Unlock()
}

// SetHandoff sets the people's side.
func (g *Gateway) SetHandoff(h Handoff) {
	g.mu.Lock()
	g.handoff = h
	g.mu.Unlock()
}

func (g *Gateway) adapter(name string) Adapter {
	g.mu.RLock()
	defer g.mu.RUnlock()
	return g.adapters[name]
}

func (g *Gateway) parts() (Responder, Handoff) {
	g.mu.RLock()
	defer g.mu.RUnlock()
	return g.responder, g.handoff
}

// Receive stores an inbound delivery and queues it for routing. When it returns without
// error the message is durable and the adapter may acknowledge it to the channel. A
// duplicate delivery returns the stored copy with Duplicate set and is not routed again.
func (g *Gateway) Receive(ctx context.Context, in concierge.Inbound) (store.Received, error) {
	if err := in.Validate(0); err != nil {
		return store.Received{}, fmt.Errorf("channels: receive: %w", err)
	}
	rec, err := g.store.Receive(ctx, in)
	if err != nil {
		return rec, fmt.Errorf("channels: receive: %w", err)
	}
	if rec.Duplicate {
		return rec, nil
	}
	g.metrics.In(in.Channel)
	if rec.Started {
		g.publishStatus(rec.Conversation)
	}
	g.publishMessage(rec.Conversation, rec.Message)
	if !rec.Message.Edited {
		g.started.LoadOrStore(rec.Conversation.ID, g.now())
	}
	g.latest.Store(rec.Conversation.ID, &received{msg: rec.Message, prev: rec.PrevUserSeq})
	g.dispatch(rec.Conversation.ID)
	return rec, nil
}

// Send stores a bot, agent or system message and queues it for delivery on the
// conversation's channel. Internal notes are stored and shown to agents only.
func (g *Gateway) Send(ctx context.Context, convID int64, out concierge.Outgoing) (concierge.Message, error) {
	conv, err := g.store.Conversation(ctx, convID)
	if err != nil {
		return concierge.Message{}, fmt.Errorf("channels: send: %w", err)
	}
	m, err := g.store.Append(ctx, convID, out, g.needsOutbox(conv.Channel))
	if err != nil {
		return m, fmt.Errorf("channels: send: %w", err)
	}
	g.metrics.Out(conv.Channel, string(out.Sender))
	g.publishMessage(conv, m)
	if g.needsOutbox(conv.Channel) {
		g.wakeOutbox()
	}
	return m, nil
}

// Typing tells the other side that someone is (or stopped) typing. Agent and bot typing
// is also passed to the channel when it can show it.
func (g *Gateway) Typing(ctx context.Context, convID int64, t concierge.Typing) {
	ev := concierge.Event{Kind: concierge.EventTyping, ConversationID: convID, Typing: &t, At: g.now()}
	g.pub.Publish(concierge.ConversationTopic(convID), ev)
	g.pub.Publish(concierge.TopicAgents, ev)
	if t.Sender == concierge.SenderUser {
		return
	}
	conv, err := g.store.Conversation(ctx, convID)
	if err != nil {
		return
	}
	if !t.On {
		if stopper, ok := g.adapter(conv.Channel).(TypingStopper); ok {
			if contact, err := g.store.Contact(ctx, conv.ContactID); err == nil {
				stopper.StopTyping(ctx, conv, contact)
			}
		}
		return
	}
	if typer, ok := g.adapter(conv.Channel).(Typer); ok {
		contact, err := g.store.Contact(ctx, conv.ContactID)
		if err == nil {
			if err := typer.Typing(ctx, conv, contact); err != nil {
				g.log.Debug().Err(err).Int64("conversation", convID).Msg("typing indicator not shown")
			}
		}
	}
}

// Notify publishes a conversation's new state (status, team, assignee) to listeners.
// The handoff side calls it after changing a conversation.
func (g *Gateway) Notify(conv concierge.Conversation) { g.publishStatus(conv) }

func (g *Gateway) needsOutbox(channel string) bool {
	if r, ok := g.adapter(channel).(StoreReader); ok && r.ReadsStore() {
		return false
	}
	return true
}

func (g *Gateway) publishMessage(conv concierge.Conversation, m concierge.Message) {
	ev := concierge.Event{Kind: concierge.EventMessage, ConversationID: conv.ID, Team: conv.Team, Message: &m, At: g.now()}
	if !m.Internal {
		g.pub.Publish(concierge.ConversationTopic(conv.ID), ev)
	}
	g.pub.Publish(concierge.TopicAgents, ev)
}

func (g *Gateway) publishStatus(conv concierge.Conversation) {
	ev := concierge.Event{Kind: concierge.EventStatus, ConversationID: conv.ID, Team: conv.Team, Conversation: &conv, At: g.now()}
	g.pub.Publish(concierge.ConversationTopic(conv.ID), ev)
	g.pub.Publish(concierge.TopicAgents, ev)
}

func (g *Gateway) wakeOutbox() {
	select {
	case g.wake <- struct{}{}:
	default:
	}
}

// Run routes conversations and delivers the outbox until ctx ends. At start it picks up
// what a previous run left: unrouted messages, unenqueued escalations, undelivered
// messages. On the way out it finishes the conversations being routed; the ones still
// waiting are picked up by the next start.
func (g *Gateway) Run(ctx context.Context) error {
	var wg sync.WaitGroup
	for _, s := range g.shards {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s.run(ctx, g.route)
		}()
	}
	ids, err := g.store.Unrouted(ctx)
	if err != nil {
		g.log.Error().Err(err).Msg("cannot list conversations left unrouted; they wait for their next message")
	}
	if len(ids) > 0 {
		g.log.Info().Int("conversations", len(ids)).Msg("routing messages left over from the last run")
	}
	for _, id := range ids {
		g.dispatch(id)
	}
	g.runOutbox(ctx)
	wg.Wait()
	return nil
}

func (g *Gateway) dispatch(convID int64) {
	var h maphash.Hash
	h.SetSeed(g.seed)
	var b [8]byte
	for i := range b {
		b[i] = byte(convID >> (8 * i))
	}
	h.Write(b[:])
	g.shards[h.Sum64()%uint64(len(g.shards))].add(convID)
}

// routeBatch is how many unrouted messages route reads at once.
const routeBatch = 16

// route handles every unrouted message of one conversation, in order.
//
// It reads the conversation and a batch of its unrouted messages once, and after a bot
// turn goes on with the conversation ApplyTurn returned instead of reading it again: the
// two reads a turn saves are a third of the store reads on the hot path. A message
// stored while route runs queues the conversation again (the shard unmarks it before
// calling route), so a batch shorter than routeBatch is the end of the work.
func (g *Gateway) route(ctx context.Context, convID int64) {
	for ctx.Err() == nil {
		conv, err := g.store.Conversation(ctx, convID)
		if err != nil {
			g.log.Error().Err(err).Int64("conversation", convID).Msg("cannot load conversation to route")
			return
		}
		if conv.Status == concierge.StatusBot && conv.PendingEscalation != nil {
			if g.escalate(ctx, conv, *conv.PendingEscalation) {
				continue // the status changed; route what is left accordingly
			}
		}
		msgs, err := g.unrouted(ctx, conv)
		if err != nil {
			g.log.Error().Err(err).Int64("conversation", convID).Msg("cannot load messages to route")
			return
		}
		if len(msgs) == 0 {
			g.started.Delete(convID)
			return
		}
		for _, m := range msgs {
			next, fresh, err := g.routeOne(ctx, conv, m)
			if err != nil {
				g.log.Error().Err(err).Int64("conversation", convID).Int64("seq", m.Seq).Msg("routing failed; retried with the next message or at restart")
				return
			}
			if !fresh {
				break // the handoff side may have changed the conversation: read it again
			}
			conv = next
		}
		if len(msgs) < routeBatch && conv.HandledSeq >= msgs[len(msgs)-1].Seq {
			return
		}
	}
}

// unrouted returns the conversation's customer messages after HandledSeq, oldest first,
// at most routeBatch. conv says whether there are any (LastUserSeq > HandledSeq), and
// usually there is one, which Receive just stored: when the customer's newest message
// is the one Receive kept and the customer's message before it was routed already,
// nothing else can be unrouted. Only otherwise (a burst, a restart) is the store read.
func (g *Gateway) unrouted(ctx context.Context, conv concierge.Conversation) ([]concierge.Message, error) {
	// Whatever happens, the kept message goes: it is routed now, or the store read
	// covers it, and a conversation that ends after a burst must not keep it for good.
	// (A newer one Receive keeps meanwhile stays.)
	v, kept := g.latest.Load(conv.ID)
	if kept {
		g.latest.CompareAndDelete(conv.ID, v)
	}
	if conv.LastUserSeq <= conv.HandledSeq {
		return nil, nil
	}
	if r, ok := v.(*received); ok && r.msg.Seq == conv.LastUserSeq && r.prev <= conv.HandledSeq {
		return []concierge.Message{r.msg}, nil
	}
	return g.store.UserMessages(ctx, conv.ID, conv.HandledSeq, routeBatch)
}

// routeOne routes one message. When it knows the conversation as the message left it
// (a bot turn), it returns it with fresh set.
func (g *Gateway) routeOne(ctx context.Context, conv concierge.Conversation, m concierge.Message) (_ concierge.Conversation, fresh bool, _ error) {
	responder, handoff := g.parts()
	if m.Edited {
		return conv, false, g.store.MarkHandled(ctx, conv.ID, m.Seq)
	}
	switch conv.Status {
	case concierge.StatusBot:
		if responder == nil {
			return conv, false, g.store.MarkHandled(ctx, conv.ID, m.Seq)
		}
		return g.botTurn(ctx, responder, conv, m)
	case concierge.StatusQueued, concierge.StatusAssigned:
		if handoff != nil {
			if err := handoff.CustomerMessage(ctx, conv, m); err != nil {
				return conv, false, fmt.Errorf("channels: pass message to handoff: %w", err)
			}
		}
		return conv, false, g.store.MarkHandled(ctx, conv.ID, m.Seq)
	case concierge.StatusClosed:
		if rating, comment, ok := concierge.ParseRating(m.Text, m.Payload); ok && conv.CSATPending && handoff != nil {
			if err := handoff.Rate(ctx, conv, m, rating, comment); err != nil {
				return conv, false, fmt.Errorf("channels: record rating: %w", err)
			}
		}
		return conv, false, g.store.MarkHandled(ctx, conv.ID, m.Seq)
	}
	return conv, false, fmt.Errorf("channels: conversation %d has unknown status %q", conv.ID, conv.Status)
}

func (g *Gateway) botTurn(ctx context.Context, responder Responder, conv concierge.Conversation, m concierge.Message) (concierge.Conversation, bool, error) {
	contact, err := g.store.Contact(ctx, conv.ContactID)
	if err != nil {
		return conv, false, err
	}
	// The history ends at the message being answered, even if more arrived since.
	history, err := g.store.CustomerHistory(ctx, conv.ID, m.Seq, g.opts.HistoryTurns)
	if err != nil {
		return conv, false, err
	}
	stopTyping := g.typingWhile(ctx, conv, contact)
	reply, err := responder.Respond(ctx, Turn{Conversation: conv, Contact: contact, Message: m, History: history})
	stopTyping()
	if err != nil {
		if ctx.Err() != nil {
			return conv, false, err
		}
		// The bot failing must not strand the customer: hand the conversation to people.
		g.log.Error().Err(err).Int64("conversation", conv.ID).Msg("bot failed; escalating")
		reply = concierge.Reply{
			Escalation: &concierge.Escalation{Reason: "bot_error", Language: conv.Language, Details: conv.Details},
			Decision:   concierge.Decision{Action: "escalate", Reason: "bot_error", Query: m.Text},
		}
	}
	outbox := g.needsOutbox(conv.Channel)
	msgs, conv, err := g.store.ApplyTurn(ctx, store.Turn{ConversationID: conv.ID, MessageID: m.ID, Seq: m.Seq,
		Reply: reply, Outbox: outbox})
	if err != nil {
		return conv, false, err
	}
	if t, ok := g.started.LoadAndDelete(conv.ID); ok {
		g.metrics.Turn(g.now().Sub(t.(time.Time)), reply.Decision.Action)
	}
	for _, out := range msgs {
		g.metrics.Out(conv.Channel, string(out.Sender))
		g.publishMessage(conv, out)
	}
	if len(msgs) > 0 && outbox {
		g.wakeOutbox()
	}
	if reply.Resolved {
		g.publishStatus(conv)
	}
	if reply.Escalation != nil {
		g.escalate(ctx, conv, *reply.Escalation)
		return conv, false, nil
	}
	return conv, true, nil
}

// escalate hands a conversation to the handoff side and reports whether it took it.
func (g *Gateway) escalate(ctx context.Context, conv concierge.Conversation, esc concierge.Escalation) bool {
	_, handoff := g.parts()
	if handoff == nil {
		g.log.Warn().Int64("conversation", conv.ID).Str("reason", esc.Reason).Msg("escalation with no handoff configured; it stays pending")
		return false
	}
	if err := handoff.Escalate(ctx, conv, esc); err != nil {
		g.log.Error().Err(err).Int64("conversation", conv.ID).Msg("escalation failed; retried at the next message or restart")
		return false
	}
	if updated, err := g.store.Conversation(ctx, conv.ID); err == nil {
		g.publishStatus(updated)
	}
	return true
}

// typingWhile shows a typing indicator if the bot takes longer than TypingDelay and
// returns a function that stops it.
func (g *Gateway) typingWhile(ctx context.Context, conv concierge.Conversation, contact concierge.Contact) func() {
	if g.opts.TypingDelay < 0 {
		g.showTyping(ctx, conv, contact, true)
		return func() { g.showTyping(ctx, conv, contact, false) }
	}
	shown := make(chan bool, 1)
	t := time.AfterFunc(g.opts.TypingDelay, func() {
		g.showTyping(ctx, conv, contact, true)
		shown <- true
	})
	return func() {
		if !t.Stop() {
			<-shown
			g.showTyping(ctx, conv, contact, false)
		}
	}
}

func (g *Gateway) showTyping(ctx context.Context, conv concierge.Conversation, contact concierge.Contact, on bool) {
	t := concierge.Typing{Sender: concierge.SenderBot, On: on}
	ev := concierge.Event{Kind: concierge.EventTyping, ConversationID: conv.ID, Typing: &t, At: g.now()}
	g.pub.Publish(concierge.ConversationTopic(conv.ID), ev)
	if !on {
		if stopper, ok := g.adapter(conv.Channel).(TypingStopper); ok {
			stopper.StopTyping(ctx, conv, contact)
		}
		return
	}
	if typer, ok := g.adapter(conv.Channel).(Typer); ok {
		if err := typer.Typing(ctx, conv, contact); err != nil {
			g.log.Debug().Err(err).Int64("conversation", conv.ID).Msg("typing indicator not shown")
		}
	}
}

// shard routes the conversations hashed onto it, one at a time, each at most once queued.
type shard struct {
	mu     sync.Mutex
	queue  []int64
	queued map[int64]bool
	signal chan struct{}
}

func newShard() *shard {
	return &shard{queued: map[int64]bool{}, signal: make(chan struct{}, 1)}
}

func (s *shard) add(id int64) {
	s.mu.Lock()
	if !s.queued[id] {
		s.queued[id] = true
		s.queue = append(s.queue, id)
	}
	s.mu.Unlock()
	select {
	case s.signal <- struct{}{}:
	default:
	}
}

func (s *shard) run(ctx context.Context, route func(context.Context, int64)) {
	for {
		s.mu.Lock()
		if len(s.queue) == 0 {
			s.mu.Unlock()
			select {
			case <-ctx.Done():
				return
			case <-s.signal:
				continue
			}
		}
		id := s.queue[0]
		s.queue = s.queue[1:]
		// Unmark before routing: a message stored while we route queues the conversation
		// again, and route reads everything unrouted, so nothing is missed.
		delete(s.queued, id)
		s.mu.Unlock()
		route(ctx, id)
		if ctx.Err() != nil {
			return
		}
	}
}

// runOutbox delivers pending messages until ctx ends, one at a time per conversation and
// in order, conversations in parallel.
func (g *Gateway) runOutbox(ctx context.Context) {
	var mu sync.Mutex
	inflight := map[int64]bool{}
	// A scan reads a snapshot of the outbox; a delivery that finishes after the snapshot
	// was read would look pending in it. Each scan has a generation, and a conversation
	// whose delivery finished during the current generation waits for the next scan.
	var gen int64
	finished := map[int64]int64{}
	sem := make(chan struct{}, 16)
	var wg sync.WaitGroup
	defer wg.Wait()
	t := time.NewTimer(0)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-g.wake:
		case <-t.C:
		}
		mu.Lock()
		gen++
		scan := gen
		mu.Unlock()
		items, err := g.store.PendingOutbox(ctx, 1000)
		if err != nil && ctx.Err() == nil {
			g.log.Warn().Err(err).Msg("outbox scan failed; retrying")
		}
		now := g.now()
		nextDue := now.Add(g.opts.OutboxScan)
		seen := map[int64]bool{}
		for _, it := range items {
			cid := it.Message.ConversationID
			if seen[cid] {
				continue // keep each conversation in order: only its oldest pending message
			}
			seen[cid] = true
			if it.NextAttempt.After(now) {
				if it.NextAttempt.Before(nextDue) {
					nextDue = it.NextAttempt
				}
				continue
			}
			mu.Lock()
			busy := inflight[cid] || finished[cid] >= scan
			if !busy {
				inflight[cid] = true
			}
			mu.Unlock()
			if busy {
				continue
			}
			select {
			case sem <- struct{}{}:
			case <-ctx.Done():
				return
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				g.deliver(ctx, it)
				mu.Lock()
				delete(inflight, cid)
				finished[cid] = gen
				mu.Unlock()
				<-sem
				g.wakeOutbox()
			}()
		}
		mu.Lock()
		for cid, fg := range finished {
			if fg < scan {
				delete(finished, cid)
			}
		}
		mu.Unlock()
		if !t.Stop() {
			select {
			case <-t.C:
			default:
			}
		}
		t.Reset(time.Until(nextDue))
	}
}

func (g *Gateway) deliver(ctx context.Context, it store.OutboxItem) {
	log := g.log.With().Int64("message", it.Message.ID).Int64("conversation", it.Message.ConversationID).Str("channel", it.Channel).Logger()
	a := g.adapter(it.Channel)
	retry := func(cause error, delay time.Duration) {
		if it.Attempts+1 >= g.opts.MaxAttempts {
			g.fail(ctx, it, cause)
			return
		}
		g.metrics.Delivery(it.Channel, "retry")
		if err := g.store.OutboxRetry(ctx, it.Message.ID, cause.Error(), g.now().Add(delay)); err != nil && ctx.Err() == nil {
			log.Error().Err(err).Msg("cannot record delivery retry")
		}
	}
	if a == nil {
		retry(fmt.Errorf("no adapter for channel %q", it.Channel), 5*time.Minute)
		return
	}
	conv, err := g.store.Conversation(ctx, it.Message.ConversationID)
	if err != nil {
		retry(err, backoff(it.Attempts))
		return
	}
	contact, err := g.store.Contact(ctx, conv.ContactID)
	if err != nil {
		retry(err, backoff(it.Attempts))
		return
	}
	extID, err := a.Deliver(ctx, Delivery{Conversation: conv, Contact: contact, Message: it.Message, Attempt: it.Attempts + 1})
	var ra *RetryAfter
	switch {
	case err == nil:
		g.metrics.Delivery(it.Channel, "sent")
		if err := g.store.OutboxSent(ctx, it.Message.ID, extID); err != nil {
			log.Error().Err(err).Msg("delivered but cannot record it; the message may be sent again")
			return
		}
		g.publishDelivery(conv, it.Message, "sent", "")
	case ctx.Err() != nil:
		// Shutting down: the row stays pending and is sent after the restart.
	case errors.Is(err, concierge.ErrUnreachable):
		if uerr := g.store.SetUnreachable(ctx, contact.ID, err.Error()); uerr != nil {
			log.Error().Err(uerr).Msg("cannot mark contact unreachable")
		}
		g.fail(ctx, it, err)
	case errors.As(err, &ra):
		log.Info().Dur("retry_after", ra.Delay).Msg("channel asked us to wait")
		retry(err, ra.Delay)
	default:
		log.Warn().Err(err).Int("attempt", it.Attempts+1).Msg("delivery failed; will retry")
		retry(err, backoff(it.Attempts))
	}
}

func (g *Gateway) fail(ctx context.Context, it store.OutboxItem, cause error) {
	g.metrics.Delivery(it.Channel, "failed")
	if err := g.store.OutboxFailed(ctx, it.Message.ID, cause.Error()); err != nil && ctx.Err() == nil {
		g.log.Error().Err(err).Int64("message", it.Message.ID).Msg("cannot record failed delivery")
	}
	if conv, err := g.store.Conversation(ctx, it.Message.ConversationID); err == nil {
		g.publishDelivery(conv, it.Message, "failed", cause.Error())
	}
}

func (g *Gateway) publishDelivery(conv concierge.Conversation, m concierge.Message, state, cause string) {
	ev := concierge.Event{Kind: concierge.EventDelivery, ConversationID: conv.ID, Team: conv.Team, At: g.now(),
		Delivery: &concierge.Delivery{MessageID: m.ID, Seq: m.Seq, State: state, Error: cause}}
	g.pub.Publish(concierge.TopicAgents, ev)
}

// backoff grows 2s, 4s, 8s… up to 10 minutes.
func backoff(attempts int) time.Duration {
	d := 2 * time.Second << min(attempts, 9)
	return min(d, 10*time.Minute)
}
