package handoff

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"sort"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/rs/zerolog"

	"github.com/conciergehq/concierge"
	"github.com/conciergehq/concierge/internal/auth"
	"github.com/conciergehq/concierge/internal/config"
	"github.com/conciergehq/concierge/internal/httpx"
	"github.com/conciergehq/concierge/internal/metrics"
)

// Store is what the handoff needs from the database.
type Store interface {
	Conversation(ctx context.Context, id int64) (concierge.Conversation, error)
	Contact(ctx context.Context, id int64) (concierge.Contact, error)
	ContactConversations(ctx context.Context, contactID int64, limit int) ([]concierge.Conversation, error)
	Messages(ctx context.Context, convID, afterSeq int64, limit int, withInternal bool) ([]concierge.Message, error)

	Enqueue(ctx context.Context, t Ticket, priority int, language string) (concierge.Conversation, error)
	Claim(ctx context.Context, convID, agentID int64, team string) (concierge.Conversation, error)
	Requeue(ctx context.Context, convID, expectAssignee int64, team string) (concierge.Conversation, error)
	Reassign(ctx context.Context, convID, expectAssignee, to int64) (concierge.Conversation, error)
	CloseTicket(ctx context.Context, convID, expectAssignee int64, res Resolution, tags []string, by int64, survey bool) (concierge.Conversation, error)
	FirstResponse(ctx context.Context, convID int64, at time.Time) error
	RecordRating(ctx context.Context, convID int64, rating int, comment string) error
	AddUnread(ctx context.Context, convID int64) (int, error)
	MarkRead(ctx context.Context, convID int64) error
	SetTicketEmail(ctx context.Context, convID int64, email string) error
	SetNotice(ctx context.Context, convID int64, position int, at time.Time) error
	RecordBreaches(ctx context.Context, now time.Time) ([]int64, error)
	Ticket(ctx context.Context, convID int64) (Ticket, error)
	Queued(ctx context.Context) ([]QueueItem, error)
	Assigned(ctx context.Context, agentID int64) ([]QueueItem, error)
	Closed(ctx context.Context, agentID int64, limit int) ([]QueueItem, error)
	Item(ctx context.Context, convID int64) (QueueItem, error)
	QueuePosition(ctx context.Context, convID int64) (int, error)
	AssignedCounts(ctx context.Context) (map[int64]int, error)
	HandleTime(ctx context.Context, team string) (time.Duration, error)
	TicketStats(ctx context.Context, since time.Time) ([]Stats, error)

	CannedResponses(ctx context.Context, teams []string) ([]Canned, error)
	CannedResponse(ctx context.Context, id int64) (Canned, error)
	SaveCanned(ctx context.Context, c Canned) (Canned, error)
	DeleteCanned(ctx context.Context, id int64) error

	Account(ctx context.Context, id int64) (auth.Account, error)
	Accounts(ctx context.Context) ([]auth.Account, error)
}

// Gateway sends to customers through their conversation's channel and tells listeners
// about changes (channels.Gateway).
type Gateway interface {
	Send(ctx context.Context, convID int64, out concierge.Outgoing) (concierge.Message, error)
	Notify(conv concierge.Conversation)
	Typing(ctx context.Context, convID int64, t concierge.Typing)
}

// Publisher fans events out to the panels (internal/bus).
type Publisher interface {
	Publish(topic string, ev concierge.Event)
}

// Team is a configured team with its calendar.
type Team struct {
	Name   string `json:"name"`
	Title  string `json:"title"`
	Pooled bool   `json:"pooled"`
	Hours  *Hours `json:"-"`
}

// Options tune the service; zero values are sensible.
type Options struct {
	// Now replaces the clock (tests move it to test SLAs, business hours and grace).
	Now func() time.Time
	// SweepEvery is how often Run re-checks timers (default 5s).
	SweepEvery time.Duration
	// Metrics, when set, gets the number of conversations waiting per team.
	Metrics *metrics.Metrics
}

// Service is the people's side of the gateway (it implements channels.Handoff).
type Service struct {
	store Store
	gw    Gateway
	pub   Publisher
	cfg   config.Handoff
	teams map[string]*Team
	order []string
	now   func() time.Time
	every time.Duration
	log   zerolog.Logger
	met   *metrics.Metrics

	presence *presence
	assignMu sync.Mutex // one auto-assignment pass at a time
	rrMu     sync.Mutex
	lastPick map[int64]time.Time // round-robin among equally busy agents

	cacheMu sync.Mutex
	queued  []QueueItem // all queued conversations in queue order; nil when stale
	// moved holds the teams somebody left the queue of (or whose position notices are
	// still due): only there can a waiting customer's place have improved, so only there
	// does noticePositions read the queue. A queue that only grows costs nothing.
	moved map[string]bool
}

// New builds the service from the handoff configuration (already validated).
func New(st Store, gw Gateway, pub Publisher, cfg config.Handoff, opts Options, log zerolog.Logger) (*Service, error) {
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.SweepEvery <= 0 {
		opts.SweepEvery = 5 * time.Second
	}
	s := &Service{store: st, gw: gw, pub: pub, cfg: cfg, teams: map[string]*Team{}, now: opts.Now, every: opts.SweepEvery, met: opts.Metrics,
		log: log.With().Str("component", "handoff").Logger(), presence: newPresence(opts.Now()), lastPick: map[int64]time.Time{},
		moved: map[string]bool{}}
	for _, t := range cfg.TeamList() {
		h, err := NewHours(t.Hours)
		if err != nil {
			return nil, fmt.Errorf("handoff: team %s: %w", t.Name, err)
		}
		s.teams[t.Name] = &Team{Name: t.Name, Title: t.Title, Pooled: t.Assignment == "pooled", Hours: h}
		s.order = append(s.order, t.Name)
		s.moved[t.Name] = true // notices left due before a restart
	}
	if s.teams[cfg.DefaultTeam] == nil {
		return nil, fmt.Errorf("handoff: default team %q is not configured", cfg.DefaultTeam)
	}
	return s, nil
}

// Teams lists the configured teams in configuration order.
func (s *Service) Teams() []Team {
	out := make([]Team, 0, len(s.order))
	for _, n := range s.order {
		out = append(out, *s.teams[n])
	}
	return out
}

// Team returns a configured team, or nil.
func (s *Service) Team(name string) *Team { return s.teams[name] }

// Now is the service's clock.
func (s *Service) Now() time.Time { return s.now() }

// route picks the team of an escalation: the one the bot named (from the matched article's
// team or tag) when it exists, else the default team.
func (s *Service) route(esc concierge.Escalation) string {
	if t := strings.ToLower(strings.TrimSpace(esc.Team)); s.teams[t] != nil {
		return t
	}
	return s.cfg.DefaultTeam
}

// Escalate moves a bot conversation into its team's queue (channels.Handoff). The status
// change, the ticket and clearing the pending escalation are one transaction; then the
// customer is told where they stand, and auto-assignment runs.
func (s *Service) Escalate(ctx context.Context, conv concierge.Conversation, esc concierge.Escalation) error {
	contact, err := s.store.Contact(ctx, conv.ContactID)
	if err != nil {
		return fmt.Errorf("handoff: escalate %d: %w", conv.ID, err)
	}
	team := s.teams[s.route(esc)]
	tier := TierOf(&contact)
	target := s.cfg.Target(tier)
	now := s.now()
	lang := esc.Language
	if conv.Language != "" {
		lang = conv.Language
	}
	t := Ticket{ConversationID: conv.ID, Team: team.Name, Tier: tier, Reason: esc.Reason, Escalation: esc,
		Offline: !team.Hours.Open(now), ContactEmail: contact.Email, EscalatedAt: now, QueuedAt: now,
		FirstResponseDue: team.Hours.Add(now, target.FirstResponse), ResolutionDue: team.Hours.Add(now, target.Resolution)}
	conv, err = s.store.Enqueue(ctx, t, tierRank[tier], lang)
	if err != nil {
		return fmt.Errorf("handoff: escalate %d: %w", conv.ID, err)
	}
	s.log.Info().Int64("conversation", conv.ID).Str("team", team.Name).Str("tier", tier).Str("reason", esc.Reason).
		Bool("offline", t.Offline).Msg("escalated to people")
	s.changed(conv, team.Name)
	if t.Offline {
		p := phrasesFor(conv.Language)
		back := p.when(team.Hours.NextOpen(now).In(team.Hours.Location()))
		text := fmt.Sprintf(p.offline, back)
		if contact.Email != "" {
			text = fmt.Sprintf(p.offlineHaveEmail, back, contact.Email)
		}
		s.system(ctx, conv.ID, text)
		return nil
	}
	s.autoAssign(ctx, team.Name)
	s.noticeFirst(ctx, conv.ID)
	return nil
}

// CustomerMessage handles a customer message of a queued or assigned conversation
// (channels.Handoff): the assignee's unread count grows, and an offline ticket collects
// the contact email the customer leaves.
func (s *Service) CustomerMessage(ctx context.Context, conv concierge.Conversation, msg concierge.Message) error {
	switch conv.Status {
	case concierge.StatusAssigned:
		if _, err := s.store.AddUnread(ctx, conv.ID); err != nil && !errors.Is(err, concierge.ErrNotFound) {
			return fmt.Errorf("handoff: customer message in %d: %w", conv.ID, err)
		}
		s.ticketChanged(ctx, conv.ID, conv.Team)
	case concierge.StatusQueued:
		t, err := s.store.Ticket(ctx, conv.ID)
		if err != nil {
			if errors.Is(err, concierge.ErrNotFound) {
				return nil
			}
			return fmt.Errorf("handoff: customer message in %d: %w", conv.ID, err)
		}
		if t.Offline && t.ContactEmail == "" {
			if email := emailRe.FindString(msg.Text); email != "" {
				if err := s.store.SetTicketEmail(ctx, conv.ID, email); err != nil {
					return fmt.Errorf("handoff: customer message in %d: %w", conv.ID, err)
				}
				s.system(ctx, conv.ID, fmt.Sprintf(phrasesFor(conv.Language).emailThanks, email))
				s.ticketChanged(ctx, conv.ID, conv.Team)
			}
		}
	}
	return nil
}

var emailRe = regexp.MustCompile(`[A-Za-z0-9._%+\-]+@[A-Za-z0-9.\-]+\.[A-Za-z]{2,}`)

// Rate records the survey answer of a closed conversation (channels.Handoff). A second
// answer is ignored.
func (s *Service) Rate(ctx context.Context, conv concierge.Conversation, msg concierge.Message, rating int, comment string) error {
	// A button's own label comes back as the text; it is not a comment.
	if r, c, ok := concierge.ParseRating(comment, ""); ok && r == rating && c == "" {
		comment = ""
	}
	if utf8.RuneCountInString(comment) > 1000 {
		comment = string([]rune(comment)[:1000])
	}
	err := s.store.RecordRating(ctx, conv.ID, rating, comment)
	if errors.Is(err, concierge.ErrConflict) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("handoff: rate %d: %w", conv.ID, err)
	}
	s.log.Info().Int64("conversation", conv.ID).Int("rating", rating).Msg("customer rated the conversation")
	s.system(ctx, conv.ID, phrasesFor(conv.Language).thanks)
	if c, err := s.store.Conversation(ctx, conv.ID); err == nil {
		s.changed(c, c.Team)
	}
	return nil
}

// system tells the customer something. A failure is logged, not returned: the change it
// reports has already been committed, and the panel shows the state regardless.
func (s *Service) system(ctx context.Context, convID int64, text string) {
	s.systemReplies(ctx, convID, text, nil)
}

func (s *Service) systemReplies(ctx context.Context, convID int64, text string, qr []concierge.QuickReply) {
	if _, err := s.gw.Send(ctx, convID, concierge.Outgoing{Sender: concierge.SenderSystem, Text: text, QuickReplies: qr}); err != nil {
		s.log.Error().Err(err).Int64("conversation", convID).Msg("cannot tell the customer")
	}
}

// changed publishes a conversation's new state and its team's queue change.
func (s *Service) changed(conv concierge.Conversation, teams ...string) {
	s.invalidate()
	s.gw.Notify(conv)
	seen := map[string]bool{}
	for _, t := range teams {
		if t == "" || seen[t] {
			continue
		}
		seen[t] = true
		if conv.Status != concierge.StatusQueued || conv.Team != t {
			s.markMoved(t)
		}
		s.publishQueue(t, conv.ID, nil)
	}
}

func (s *Service) markMoved(team string) {
	s.cacheMu.Lock()
	s.moved[team] = true
	s.cacheMu.Unlock()
}

// takeMoved reports whether positions in team may have improved, and forgets it.
func (s *Service) takeMoved(team string) bool {
	s.cacheMu.Lock()
	defer s.cacheMu.Unlock()
	m := s.moved[team]
	delete(s.moved, team)
	return m
}

// ticketChanged publishes a ticket's new summary (unread count, breach, email, rating).
func (s *Service) ticketChanged(ctx context.Context, convID int64, team string) {
	s.invalidate()
	it, err := s.store.Item(ctx, convID)
	if err != nil {
		s.publishQueue(team, convID, nil)
		return
	}
	s.fillSLA(&it, s.now())
	s.publishQueue(it.Conversation.Team, convID, &it)
}

func (s *Service) publishQueue(team string, convID int64, it *QueueItem) {
	ev := concierge.Event{Kind: concierge.EventQueue, Team: team, ConversationID: convID, At: s.now()}
	if it != nil {
		ev.Data, _ = json.Marshal(it)
	}
	s.pub.Publish(concierge.TopicAgents, ev)
}

func (s *Service) invalidate() {
	s.cacheMu.Lock()
	s.queued = nil
	s.cacheMu.Unlock()
}

// queue returns all queued conversations in order, from a cache every change clears:
// 200 panels refreshing after one change read the database once.
func (s *Service) queue(ctx context.Context) ([]QueueItem, error) {
	s.cacheMu.Lock()
	defer s.cacheMu.Unlock()
	if s.queued != nil {
		return s.queued, nil
	}
	items, err := s.store.Queued(ctx)
	if err != nil {
		return nil, err
	}
	pos := map[string]int{}
	for i := range items {
		pos[items[i].Conversation.Team]++
		items[i].Position = pos[items[i].Conversation.Team]
	}
	if s.met != nil {
		for _, name := range s.order {
			s.met.QueueWaiting.WithLabelValues(name).Set(float64(pos[name]))
		}
	}
	if items == nil {
		items = []QueueItem{}
	}
	s.queued = items
	return items, nil
}

// fillSLA computes the item's SLA state at now.
func (s *Service) fillSLA(it *QueueItem, now time.Time) {
	t := &it.Ticket
	team := s.teams[it.Conversation.Team]
	hours := AlwaysOpen()
	if team != nil {
		hours = team.Hours
	}
	target := s.cfg.Target(t.Tier)
	st := SLAState{Target: "first_response", Due: t.FirstResponseDue, TotalMS: target.FirstResponse.Milliseconds()}
	if t.FirstResponseAt != nil {
		st = SLAState{Target: "resolution", Due: t.ResolutionDue, TotalMS: target.Resolution.Milliseconds()}
	}
	end := now
	if t.ClosedAt != nil {
		end = *t.ClosedAt
	}
	elapsed := hours.Elapsed(t.EscalatedAt, end)
	st.RemainingMS = st.TotalMS - elapsed.Milliseconds()
	st.Paused = t.ClosedAt == nil && !hours.Open(now)
	st.Breached = st.RemainingMS < 0 || (st.Target == "first_response" && t.FirstResponseBreachedAt != nil) ||
		(st.Target == "resolution" && t.ResolutionBreachedAt != nil)
	it.SLA = st
}

// Queue returns the queued conversations of the given teams (all when nil), in queue
// order, with SLA states as of now.
func (s *Service) Queue(ctx context.Context, teams []string) ([]QueueItem, error) {
	all, err := s.queue(ctx)
	if err != nil {
		return nil, fmt.Errorf("handoff: queue: %w", err)
	}
	now := s.now()
	out := make([]QueueItem, 0, len(all))
	for _, it := range all {
		if teams != nil && !contains(teams, it.Conversation.Team) {
			continue
		}
		s.fillSLA(&it, now)
		out = append(out, it)
	}
	return out, nil
}

func contains(list []string, v string) bool {
	for _, x := range list {
		if x == v {
			return true
		}
	}
	return false
}

// position returns a conversation's place in its team's queue (0 if not queued) and the
// team's queue length.
func (s *Service) position(ctx context.Context, convID int64) (int, QueueItem, error) {
	all, err := s.queue(ctx)
	if err != nil {
		return 0, QueueItem{}, err
	}
	for _, it := range all {
		if it.Conversation.ID == convID {
			return it.Position, it, nil
		}
	}
	return 0, QueueItem{}, nil
}

// perPlace estimates how long each place in team's queue waits: recent handle time ÷ the
// chats online agents can hold (position n waits n times that). Zero when nobody is
// online (no estimate is better than a wrong one).
func (s *Service) perPlace(ctx context.Context, team string) time.Duration {
	agents, err := s.members(ctx, team)
	if err != nil {
		return 0
	}
	capacity := 0
	for _, a := range agents {
		if s.presence.status(a.ID) != Offline {
			capacity += s.maxChats(a)
		}
	}
	if capacity == 0 {
		return 0
	}
	handle, err := s.store.HandleTime(ctx, team)
	if err != nil || handle <= 0 {
		handle = 5 * time.Minute
	}
	return handle / time.Duration(capacity)
}

// noticePositions tells a team's waiting customers whose position improved since their
// last notice where they stand now, at most once per configured interval. (A new
// arrival is told by noticeFirst.) It reads the queue only when somebody left it.
func (s *Service) noticePositions(ctx context.Context, team string) {
	if s.cfg.PositionUpdates == 0 || !s.takeMoved(team) {
		return
	}
	all, err := s.queue(ctx)
	if err != nil {
		s.log.Error().Err(err).Msg("cannot read the queue to update positions")
		s.markMoved(team)
		return
	}
	now := s.now()
	sent, later := false, false
	per := time.Duration(-1) // read once, when the first update goes out
	defer func() {
		if sent {
			s.invalidate() // the notice fields changed
		}
		if later {
			s.markMoved(team) // try again at the next sweep
		}
	}()
	for _, it := range all {
		t := it.Ticket
		if it.Conversation.Team != team || t.Offline || t.NoticePosition == 0 || it.Position >= t.NoticePosition {
			continue
		}
		if now.Sub(t.NoticeAt) < s.cfg.PositionUpdates {
			later = true
			continue
		}
		p := phrasesFor(it.Conversation.Language)
		text := fmt.Sprintf(p.positionNoETA, it.Position)
		if per < 0 {
			per = s.perPlace(ctx, team)
		}
		if per > 0 {
			text = fmt.Sprintf(p.position, it.Position, p.eta(time.Duration(it.Position)*per))
		}
		s.system(ctx, it.Conversation.ID, text)
		sent = true
		if err := s.store.SetNotice(ctx, it.Conversation.ID, it.Position, now); err != nil {
			s.log.Error().Err(err).Int64("conversation", it.Conversation.ID).Msg("cannot record the position notice")
		}
	}
}

// noticeFirst tells a newly queued (or transferred) customer their place. It counts their position rather
// than reading the whole queue: escalations keep coming while nobody works the queue
// (at night, during an incident), and the queue is longest exactly then.
func (s *Service) noticeFirst(ctx context.Context, convID int64) {
	it, err := s.store.Item(ctx, convID)
	if err != nil {
		s.log.Error().Err(err).Int64("conversation", convID).Msg("cannot read the queued conversation to tell its position")
		return
	}
	if it.Conversation.Status != concierge.StatusQueued || it.Ticket.Offline {
		return // auto-assigned already, or told when the team is back
	}
	pos, err := s.store.QueuePosition(ctx, convID)
	if err != nil {
		s.log.Error().Err(err).Int64("conversation", convID).Msg("cannot count the queue position")
		return
	}
	p := phrasesFor(it.Conversation.Language)
	text := fmt.Sprintf(p.queuedNoETA, pos)
	if per := s.perPlace(ctx, it.Conversation.Team); per > 0 {
		text = fmt.Sprintf(p.queued, pos, p.eta(time.Duration(pos)*per))
	}
	s.system(ctx, convID, text)
	if err := s.store.SetNotice(ctx, convID, pos, s.now()); err != nil {
		s.log.Error().Err(err).Int64("conversation", convID).Msg("cannot record the position notice")
	}
	s.invalidate() // the notice fields changed
}

// members lists the enabled agents of a team (explicit members; admins only when listed).
func (s *Service) members(ctx context.Context, team string) ([]auth.Account, error) {
	accts, err := s.store.Accounts(ctx)
	if err != nil {
		return nil, err
	}
	var out []auth.Account
	for _, a := range accts {
		if !a.Disabled && a.Has(httpx.RoleAgent) && contains(a.Teams, team) {
			out = append(out, a)
		}
	}
	return out, nil
}

func (s *Service) maxChats(a auth.Account) int {
	if a.MaxChats > 0 {
		return a.MaxChats
	}
	return s.cfg.MaxConcurrent
}

// autoAssign gives an auto-assigned team's waiting conversations, in queue order, to the
// least busy online member under their maximum, round-robin among equally busy ones.
func (s *Service) autoAssign(ctx context.Context, team string) {
	tm := s.teams[team]
	if tm == nil || tm.Pooled {
		return
	}
	s.assignMu.Lock()
	defer s.assignMu.Unlock()
	// Who is online first: it is cheap, and with nobody online (nights, or a queue that
	// grows during an incident) reading the whole queue at every escalation is waste.
	members, err := s.members(ctx, team)
	if err != nil {
		s.log.Error().Err(err).Msg("auto-assign: cannot list agents")
		return
	}
	var online []auth.Account
	for _, a := range members {
		if s.presence.status(a.ID) == Online {
			online = append(online, a)
		}
	}
	if len(online) == 0 {
		return
	}
	all, err := s.queue(ctx)
	if err != nil {
		s.log.Error().Err(err).Msg("auto-assign: cannot read the queue")
		return
	}
	var waiting []QueueItem
	for _, it := range all {
		if it.Conversation.Team == team {
			waiting = append(waiting, it)
		}
	}
	if len(waiting) == 0 {
		return
	}
	load, err := s.store.AssignedCounts(ctx)
	if err != nil {
		s.log.Error().Err(err).Msg("auto-assign: cannot count assignments")
		return
	}
	for _, it := range waiting {
		a, ok := s.pick(online, load)
		if !ok {
			return
		}
		conv, err := s.store.Claim(ctx, it.Conversation.ID, a.ID, team)
		if err != nil {
			if !errors.Is(err, concierge.ErrConflict) {
				s.log.Error().Err(err).Int64("conversation", it.Conversation.ID).Msg("auto-assign failed")
			}
			continue
		}
		load[a.ID]++
		s.rrMu.Lock()
		s.lastPick[a.ID] = s.now()
		s.rrMu.Unlock()
		s.log.Info().Int64("conversation", conv.ID).Int64("agent", a.ID).Str("team", team).Msg("auto-assigned")
		s.assigned(ctx, conv, a)
	}
}

// pick chooses the least busy agent with room; among equals, the one who got a
// conversation longest ago (never beats any time), then the lowest id.
func (s *Service) pick(online []auth.Account, load map[int64]int) (auth.Account, bool) {
	s.rrMu.Lock()
	defer s.rrMu.Unlock()
	best := -1
	for i, a := range online {
		if load[a.ID] >= s.maxChats(a) {
			continue
		}
		if best < 0 {
			best = i
			continue
		}
		b := online[best]
		la, lb := load[a.ID], load[b.ID]
		ta, tb := s.lastPick[a.ID], s.lastPick[b.ID]
		if la < lb || (la == lb && (ta.Before(tb) || (ta.Equal(tb) && a.ID < b.ID))) {
			best = i
		}
	}
	if best < 0 {
		return auth.Account{}, false
	}
	return online[best], true
}

// assigned tells the customer who joined and everyone what changed.
func (s *Service) assigned(ctx context.Context, conv concierge.Conversation, a auth.Account) {
	s.changed(conv, conv.Team)
	s.system(ctx, conv.ID, fmt.Sprintf(phrasesFor(conv.Language).joined, a.Name))
	s.publishPresence(ctx, a.ID)
}

// Forbidden and conflict answers the panel shows as they are.
func forbidden(format string, args ...any) error {
	return fmt.Errorf("%w: %s", concierge.ErrForbidden, fmt.Sprintf(format, args...))
}

// CanSee reports whether an account may look at a conversation: admins always; agents
// when it is in one of their teams or assigned to them.
func CanSee(a auth.Account, conv concierge.Conversation) bool {
	return a.Admin() || (a.Has(httpx.RoleAgent) && (contains(a.Teams, conv.Team) || conv.AssigneeID == a.ID))
}

// owns reports whether the account may act for the assignee (reply, close, transfer).
func owns(a auth.Account, conv concierge.Conversation) bool {
	return a.Admin() || (conv.Status == concierge.StatusAssigned && conv.AssigneeID == a.ID)
}

func (s *Service) load(ctx context.Context, actor auth.Account, convID int64) (concierge.Conversation, error) {
	conv, err := s.store.Conversation(ctx, convID)
	if err != nil {
		return conv, err
	}
	if !CanSee(actor, conv) {
		// Not found rather than forbidden: ids of other teams' conversations stay private.
		return conv, fmt.Errorf("conversation %d: %w", convID, concierge.ErrNotFound)
	}
	return conv, nil
}

// explain turns a lost race into a sentence naming who won.
func (s *Service) explain(ctx context.Context, err error) error {
	var ce *ConflictError
	if !errors.As(err, &ce) {
		return err
	}
	c := ce.Conversation
	if c.Status == concierge.StatusAssigned && c.AssigneeID != 0 {
		name := fmt.Sprintf("agent #%d", c.AssigneeID)
		if a, aerr := s.store.Account(ctx, c.AssigneeID); aerr == nil {
			name = a.Name
		}
		return fmt.Errorf("%w: %s has already taken conversation %d", concierge.ErrConflict, name, c.ID)
	}
	return fmt.Errorf("%w: %s", concierge.ErrConflict, ce.Error())
}

// Claim takes a queued conversation for the actor. Of two agents claiming at once exactly
// one wins; the other gets ErrConflict saying who has it.
func (s *Service) Claim(ctx context.Context, actor auth.Account, convID int64) (concierge.Conversation, error) {
	conv, err := s.load(ctx, actor, convID)
	if err != nil {
		return conv, fmt.Errorf("handoff: claim: %w", err)
	}
	if conv.Status == concierge.StatusAssigned && conv.AssigneeID == actor.ID {
		return conv, nil
	}
	if !actor.InTeam(conv.Team) || !actor.Has(httpx.RoleAgent) {
		return conv, fmt.Errorf("handoff: claim: %w", forbidden("conversation %d belongs to the %s team", convID, conv.Team))
	}
	team := conv.Team
	if actor.Admin() {
		team = ""
	}
	claimed, err := s.store.Claim(ctx, convID, actor.ID, team)
	if err != nil {
		var ce *ConflictError
		if errors.As(err, &ce) && ce.Conversation.Status == concierge.StatusAssigned && ce.Conversation.AssigneeID == actor.ID {
			return ce.Conversation, nil
		}
		return conv, fmt.Errorf("handoff: claim: %w", s.explain(ctx, err))
	}
	s.log.Info().Int64("conversation", convID).Int64("agent", actor.ID).Msg("claimed")
	s.assigned(ctx, claimed, actor)
	s.noticePositions(ctx, claimed.Team)
	return claimed, nil
}

// MaxText is the longest message an agent may send.
const MaxText = 8000

// Reply sends the actor's message to the customer (or, internal, a note for agents only).
// Replies need the conversation to be the actor's (admins may reply anywhere); notes only
// that the actor can see it.
func (s *Service) Reply(ctx context.Context, actor auth.Account, convID int64, text string, internal bool) (concierge.Message, error) {
	text = strings.TrimSpace(text)
	if text == "" || len(text) > MaxText {
		return concierge.Message{}, fmt.Errorf("handoff: reply: %w", concierge.Invalidf("a message needs 1-%d bytes of text", MaxText))
	}
	conv, err := s.load(ctx, actor, convID)
	if err != nil {
		return concierge.Message{}, fmt.Errorf("handoff: reply: %w", err)
	}
	if !internal {
		switch {
		case conv.Status == concierge.StatusClosed:
			return concierge.Message{}, fmt.Errorf("handoff: reply: %w", concierge.Invalidf("conversation %d is closed", convID))
		case conv.Status != concierge.StatusAssigned && !actor.Admin():
			return concierge.Message{}, fmt.Errorf("handoff: reply: %w", forbidden("claim conversation %d before replying", convID))
		case !owns(actor, conv):
			return concierge.Message{}, fmt.Errorf("handoff: reply: %w", forbidden("conversation %d is assigned to someone else", convID))
		}
	}
	m, err := s.gw.Send(ctx, convID, concierge.Outgoing{Sender: concierge.SenderAgent, SenderID: actor.ID, SenderName: actor.Name,
		Text: text, Internal: internal})
	if err != nil {
		return m, fmt.Errorf("handoff: reply: %w", err)
	}
	if !internal {
		if err := s.store.FirstResponse(ctx, convID, m.CreatedAt); err != nil {
			s.log.Error().Err(err).Int64("conversation", convID).Msg("cannot record the first response")
		}
		if conv.AssigneeID == actor.ID {
			if err := s.store.MarkRead(ctx, convID); err != nil && !errors.Is(err, concierge.ErrNotFound) {
				s.log.Error().Err(err).Int64("conversation", convID).Msg("cannot clear unread")
			}
		}
		s.gw.Typing(ctx, convID, concierge.Typing{Sender: concierge.SenderAgent, Name: actor.Name, On: false})
		s.ticketChanged(ctx, convID, conv.Team)
	}
	return m, nil
}

// Typing shows the customer that the actor is (or stopped) typing.
func (s *Service) Typing(ctx context.Context, actor auth.Account, convID int64, on bool) error {
	conv, err := s.load(ctx, actor, convID)
	if err != nil {
		return fmt.Errorf("handoff: typing: %w", err)
	}
	if !owns(actor, conv) || conv.Status != concierge.StatusAssigned {
		return fmt.Errorf("handoff: typing: %w", forbidden("conversation %d is not yours", convID))
	}
	s.gw.Typing(ctx, convID, concierge.Typing{Sender: concierge.SenderAgent, Name: actor.Name, On: on})
	return nil
}

// MarkRead clears the actor's unread count of a conversation assigned to them.
func (s *Service) MarkRead(ctx context.Context, actor auth.Account, convID int64) error {
	conv, err := s.load(ctx, actor, convID)
	if err != nil {
		return fmt.Errorf("handoff: mark read: %w", err)
	}
	if conv.AssigneeID != actor.ID {
		return nil
	}
	if err := s.store.MarkRead(ctx, convID); err != nil && !errors.Is(err, concierge.ErrNotFound) {
		return fmt.Errorf("handoff: mark read: %w", err)
	}
	s.ticketChanged(ctx, convID, conv.Team)
	return nil
}

// Transfer hands a conversation to another agent (toAgent) or to another team's queue
// (toTeam), with an internal note for whoever takes it.
func (s *Service) Transfer(ctx context.Context, actor auth.Account, convID, toAgent int64, toTeam, note string) (concierge.Conversation, error) {
	conv, err := s.load(ctx, actor, convID)
	if err != nil {
		return conv, fmt.Errorf("handoff: transfer: %w", err)
	}
	queuedInTeam := conv.Status == concierge.StatusQueued && actor.InTeam(conv.Team)
	if !owns(actor, conv) && !queuedInTeam {
		return conv, fmt.Errorf("handoff: transfer: %w", forbidden("conversation %d is not yours to transfer", convID))
	}
	if len(note) > MaxText {
		return conv, fmt.Errorf("handoff: transfer: %w", concierge.Invalidf("the note is longer than %d bytes", MaxText))
	}
	expect := conv.AssigneeID
	if actor.Admin() || conv.Status == concierge.StatusQueued {
		expect = 0
	}
	p := phrasesFor(conv.Language)
	var out concierge.Conversation
	var noteText string
	switch {
	case toAgent != 0 && toTeam == "":
		target, err := s.store.Account(ctx, toAgent)
		if err != nil || target.Disabled || !target.Has(httpx.RoleAgent) {
			return conv, fmt.Errorf("handoff: transfer: %w", concierge.Invalidf("agent %d cannot take conversations", toAgent))
		}
		if target.ID == conv.AssigneeID {
			return conv, fmt.Errorf("handoff: transfer: %w", concierge.Invalidf("%s already has conversation %d", target.Name, convID))
		}
		if s.presence.status(target.ID) == Offline {
			return conv, fmt.Errorf("handoff: transfer: %w: %s is offline", concierge.ErrConflict, target.Name)
		}
		out, err = s.store.Reassign(ctx, convID, expect, target.ID)
		if err != nil {
			return conv, fmt.Errorf("handoff: transfer: %w", s.explain(ctx, err))
		}
		noteText = fmt.Sprintf("%s transferred this conversation to %s.", actor.Name, target.Name)
		s.addNote(ctx, actor, convID, noteText, note)
		s.assigned(ctx, out, target)
		s.publishPresence(ctx, actor.ID)
	case toTeam != "" && toAgent == 0:
		team := s.teams[toTeam]
		if team == nil {
			return conv, fmt.Errorf("handoff: transfer: %w", concierge.Invalidf("no team %q", toTeam))
		}
		out, err = s.store.Requeue(ctx, convID, expect, team.Name)
		if err != nil {
			return conv, fmt.Errorf("handoff: transfer: %w", s.explain(ctx, err))
		}
		noteText = fmt.Sprintf("%s transferred this conversation to the %s team.", actor.Name, team.Title)
		s.addNote(ctx, actor, convID, noteText, note)
		s.changed(out, conv.Team, team.Name)
		s.system(ctx, convID, fmt.Sprintf(p.transferred, team.Title))
		s.publishPresence(ctx, actor.ID)
		s.autoAssign(ctx, team.Name)
		s.noticeFirst(ctx, convID) // unless auto-assign placed it
		s.autoAssign(ctx, conv.Team)
	default:
		return conv, fmt.Errorf("handoff: transfer: %w", concierge.Invalidf("transfer to either an agent or a team"))
	}
	s.log.Info().Int64("conversation", convID).Int64("by", actor.ID).Int64("to_agent", toAgent).Str("to_team", toTeam).Msg("transferred")
	return out, nil
}

func (s *Service) addNote(ctx context.Context, actor auth.Account, convID int64, what, note string) {
	text := what
	if note = strings.TrimSpace(note); note != "" {
		text += "\n" + note
	}
	if _, err := s.gw.Send(ctx, convID, concierge.Outgoing{Sender: concierge.SenderAgent, SenderID: actor.ID,
		SenderName: actor.Name, Text: text, Internal: true}); err != nil {
		s.log.Error().Err(err).Int64("conversation", convID).Msg("cannot add the transfer note")
	}
}

// Close ends a conversation with its outcome and tags. Unless it was spam, the customer
// is told and asked to rate the help (1–5).
func (s *Service) Close(ctx context.Context, actor auth.Account, convID int64, res Resolution, tags []string) (concierge.Conversation, error) {
	if !res.Valid() {
		return concierge.Conversation{}, fmt.Errorf("handoff: close: %w", concierge.Invalidf("resolution %q: want resolved, unresolved or spam", res))
	}
	conv, err := s.load(ctx, actor, convID)
	if err != nil {
		return conv, fmt.Errorf("handoff: close: %w", err)
	}
	queuedInTeam := conv.Status == concierge.StatusQueued && actor.InTeam(conv.Team)
	if conv.Status == concierge.StatusClosed {
		return conv, fmt.Errorf("handoff: close: %w: conversation %d is already closed", concierge.ErrConflict, convID)
	}
	if !owns(actor, conv) && !queuedInTeam {
		return conv, fmt.Errorf("handoff: close: %w", forbidden("conversation %d is not yours to close", convID))
	}
	expect := conv.AssigneeID
	if actor.Admin() || conv.Status == concierge.StatusQueued {
		expect = 0
	}
	survey := res != Spam
	closed, err := s.store.CloseTicket(ctx, convID, expect, res, NormaliseTags(tags), actor.ID, survey)
	if err != nil {
		return conv, fmt.Errorf("handoff: close: %w", s.explain(ctx, err))
	}
	s.log.Info().Int64("conversation", convID).Int64("by", actor.ID).Str("resolution", string(res)).Msg("closed")
	if survey {
		p := phrasesFor(conv.Language)
		s.system(ctx, convID, p.closed)
		s.systemReplies(ctx, convID, p.survey, surveyReplies())
	}
	s.changed(closed, closed.Team)
	if conv.AssigneeID != 0 {
		s.publishPresence(ctx, conv.AssigneeID)
	}
	s.autoAssign(ctx, closed.Team)
	s.noticePositions(ctx, closed.Team)
	return closed, nil
}

// View is everything the panel shows about one conversation.
type View struct {
	Conversation concierge.Conversation   `json:"conversation"`
	Contact      concierge.Contact        `json:"contact"`
	Ticket       *Ticket                  `json:"ticket,omitempty"`
	SLA          *SLAState                `json:"sla,omitempty"`
	Messages     []concierge.Message      `json:"messages"`
	Previous     []concierge.Conversation `json:"previous"`
	AssigneeName string                   `json:"assignee_name,omitempty"`
	Position     int                      `json:"position,omitempty"`
}

// View returns a conversation with its transcript (notes included), contact, ticket and
// the contact's previous conversations.
func (s *Service) View(ctx context.Context, actor auth.Account, convID int64) (View, error) {
	conv, err := s.load(ctx, actor, convID)
	if err != nil {
		return View{}, fmt.Errorf("handoff: view: %w", err)
	}
	conv.BotState = nil
	v := View{Conversation: conv, Messages: []concierge.Message{}, Previous: []concierge.Conversation{}}
	if v.Contact, err = s.store.Contact(ctx, conv.ContactID); err != nil {
		return v, fmt.Errorf("handoff: view: %w", err)
	}
	if it, err := s.store.Item(ctx, convID); err == nil {
		s.fillSLA(&it, s.now())
		v.Ticket, v.SLA = &it.Ticket, &it.SLA
	} else if !errors.Is(err, concierge.ErrNotFound) {
		return v, fmt.Errorf("handoff: view: %w", err)
	}
	const pageSize = 1000
	for after := int64(0); ; {
		msgs, err := s.store.Messages(ctx, convID, after, pageSize, true)
		if err != nil {
			return v, fmt.Errorf("handoff: view: %w", err)
		}
		v.Messages = append(v.Messages, msgs...)
		if len(msgs) < pageSize {
			break
		}
		after = msgs[len(msgs)-1].Seq
	}
	prev, err := s.store.ContactConversations(ctx, conv.ContactID, 11)
	if err != nil {
		return v, fmt.Errorf("handoff: view: %w", err)
	}
	for _, p := range prev {
		if p.ID != convID {
			p.BotState, p.PendingEscalation = nil, nil
			v.Previous = append(v.Previous, p)
		}
	}
	if conv.AssigneeID != 0 {
		if a, err := s.store.Account(ctx, conv.AssigneeID); err == nil {
			v.AssigneeName = a.Name
		}
	}
	if conv.Status == concierge.StatusQueued {
		v.Position, _, _ = s.position(ctx, convID)
	}
	return v, nil
}

// Mine lists the conversations assigned to the actor, with SLA states.
func (s *Service) Mine(ctx context.Context, actor auth.Account) ([]QueueItem, error) {
	items, err := s.store.Assigned(ctx, actor.ID)
	if err != nil {
		return nil, fmt.Errorf("handoff: mine: %w", err)
	}
	now := s.now()
	for i := range items {
		s.fillSLA(&items[i], now)
	}
	if items == nil {
		items = []QueueItem{}
	}
	return items, nil
}

// Assigned lists every assigned conversation the actor may see (their teams', or all
// for admins).
func (s *Service) Assigned(ctx context.Context, actor auth.Account) ([]QueueItem, error) {
	items, err := s.store.Assigned(ctx, 0)
	if err != nil {
		return nil, fmt.Errorf("handoff: assigned: %w", err)
	}
	now := s.now()
	out := []QueueItem{}
	for _, it := range items {
		if CanSee(actor, it.Conversation) {
			s.fillSLA(&it, now)
			out = append(out, it)
		}
	}
	return out, nil
}

// Closed lists recently closed conversations: the actor's, or everyone's for admins.
func (s *Service) Closed(ctx context.Context, actor auth.Account, limit int) ([]QueueItem, error) {
	who := actor.ID
	if actor.Admin() {
		who = 0
	}
	items, err := s.store.Closed(ctx, who, limit)
	if err != nil {
		return nil, fmt.Errorf("handoff: closed: %w", err)
	}
	now := s.now()
	for i := range items {
		s.fillSLA(&items[i], now)
	}
	if items == nil {
		items = []QueueItem{}
	}
	return items, nil
}

// Stats summarises tickets closed in the last days, per team the actor may see.
func (s *Service) Stats(ctx context.Context, actor auth.Account, days int) ([]Stats, error) {
	all, err := s.store.TicketStats(ctx, s.now().AddDate(0, 0, -days))
	if err != nil {
		return nil, fmt.Errorf("handoff: stats: %w", err)
	}
	out := []Stats{}
	for _, st := range all {
		if actor.InTeam(st.Team) {
			out = append(out, st)
		}
	}
	return out, nil
}

// AgentState is one agent as colleagues see them: presence and load.
type AgentState struct {
	ID       int64    `json:"id"`
	Name     string   `json:"name"`
	Teams    []string `json:"teams"`
	Presence Presence `json:"presence"`
	Load     int      `json:"load"`
	MaxChats int      `json:"max_chats"`
}

// Agents lists enabled agents with their presence and load.
func (s *Service) Agents(ctx context.Context) ([]AgentState, error) {
	accts, err := s.store.Accounts(ctx)
	if err != nil {
		return nil, fmt.Errorf("handoff: agents: %w", err)
	}
	load, err := s.store.AssignedCounts(ctx)
	if err != nil {
		return nil, fmt.Errorf("handoff: agents: %w", err)
	}
	out := []AgentState{}
	for _, a := range accts {
		if a.Disabled || !a.Has(httpx.RoleAgent) {
			continue
		}
		out = append(out, AgentState{ID: a.ID, Name: a.Name, Teams: a.Teams, Presence: s.presence.status(a.ID),
			Load: load[a.ID], MaxChats: s.maxChats(a)})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

// Presence returns an agent's presence.
func (s *Service) Presence(id int64) Presence { return s.presence.status(id) }

// Connected counts a panel connection of an agent; the first one brings them online.
func (s *Service) Connected(ctx context.Context, a auth.Account) {
	before, after := s.presence.connect(a.ID)
	if before != after {
		s.presenceChanged(ctx, a.ID, after)
	}
}

// Disconnected drops a panel connection; with the last one the agent goes offline, and
// the grace period for their conversations starts.
func (s *Service) Disconnected(ctx context.Context, a auth.Account) {
	before, after := s.presence.disconnect(a.ID, s.now())
	if before != after {
		s.presenceChanged(ctx, a.ID, after)
	}
}

// SetPresence records the agent's own choice (online, away, offline).
func (s *Service) SetPresence(ctx context.Context, a auth.Account, p Presence) error {
	if !p.Valid() {
		return fmt.Errorf("handoff: presence: %w", concierge.Invalidf("presence %q: want online, away or offline", p))
	}
	before, after := s.presence.set(a.ID, p, s.now())
	if before != after {
		s.presenceChanged(ctx, a.ID, after)
	}
	return nil
}

func (s *Service) presenceChanged(ctx context.Context, id int64, p Presence) {
	s.log.Info().Int64("agent", id).Str("presence", string(p)).Msg("presence changed")
	s.publishPresence(ctx, id)
	if p == Online {
		a, err := s.store.Account(ctx, id)
		if err != nil {
			return
		}
		for _, t := range a.Teams {
			s.autoAssign(ctx, t)
		}
	}
}

func (s *Service) publishPresence(ctx context.Context, id int64) {
	a, err := s.store.Account(ctx, id)
	if err != nil {
		return
	}
	load, _ := s.store.AssignedCounts(ctx)
	st := AgentState{ID: a.ID, Name: a.Name, Teams: a.Teams, Presence: s.presence.status(id), Load: load[id], MaxChats: s.maxChats(a)}
	data, _ := json.Marshal(st)
	s.pub.Publish(concierge.TopicAgents, concierge.Event{Kind: concierge.EventPresence, Data: data, At: s.now()})
}

// Sweep does what time triggers: re-queues the conversations of agents offline longer
// than the grace period, records SLA breaches, sends due position updates and assigns
// what waits (offline tickets once their team opens). Run calls it periodically; tests
// call it after moving the clock.
func (s *Service) Sweep(ctx context.Context) {
	now := s.now()
	s.requeueAbandoned(ctx, now)
	ids, err := s.store.RecordBreaches(ctx, now)
	if err != nil {
		s.log.Error().Err(err).Msg("cannot record SLA breaches")
	}
	for _, id := range ids {
		s.log.Warn().Int64("conversation", id).Msg("SLA breached")
		s.ticketChanged(ctx, id, "")
	}
	for _, name := range s.order {
		s.autoAssign(ctx, name)
		s.noticePositions(ctx, name)
	}
}

func (s *Service) requeueAbandoned(ctx context.Context, now time.Time) {
	items, err := s.store.Assigned(ctx, 0)
	if err != nil {
		s.log.Error().Err(err).Msg("cannot list assignments to check presence")
		return
	}
	byAgent := map[int64][]QueueItem{}
	var ids []int64
	for _, it := range items {
		a := it.Conversation.AssigneeID
		if byAgent[a] == nil {
			ids = append(ids, a)
		}
		byAgent[a] = append(byAgent[a], it)
	}
	for _, agent := range s.presence.due(ids, now, s.cfg.GracePeriod) {
		failed := false
		for _, it := range byAgent[agent] {
			conv, err := s.store.Requeue(ctx, it.Conversation.ID, agent, it.Conversation.Team)
			if err != nil {
				if !errors.Is(err, concierge.ErrConflict) {
					failed = true
					s.log.Error().Err(err).Int64("conversation", it.Conversation.ID).Msg("cannot re-queue")
				}
				continue
			}
			s.log.Info().Int64("conversation", conv.ID).Int64("agent", agent).Msg("agent offline past the grace period; re-queued")
			s.changed(conv, conv.Team)
			if a, err := s.store.Account(ctx, agent); err == nil {
				s.addNote(ctx, a, conv.ID, fmt.Sprintf("%s went offline; the conversation went back to the queue.", a.Name), "")
			}
			s.system(ctx, conv.ID, phrasesFor(conv.Language).requeued)
		}
		if failed {
			s.presence.unmark(agent)
		}
		s.publishPresence(ctx, agent)
	}
}

// Run sweeps periodically until ctx ends.
func (s *Service) Run(ctx context.Context) error {
	t := time.NewTicker(s.every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
			s.Sweep(ctx)
		}
	}
}

// Canned responses.

var shortcutRe = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]{0,31}$`)

// CannedResponses lists the canned responses the actor may use: their teams' and the
// shared ones (all for admins).
func (s *Service) CannedResponses(ctx context.Context, actor auth.Account) ([]Canned, error) {
	var teams []string
	if !actor.Admin() {
		teams = append([]string{}, actor.Teams...)
	}
	out, err := s.store.CannedResponses(ctx, teams)
	if err != nil {
		return nil, fmt.Errorf("handoff: canned responses: %w", err)
	}
	if out == nil {
		out = []Canned{}
	}
	return out, nil
}

// SaveCanned creates or updates a canned response. Agents manage their teams' ones;
// shared ones (team "") need an admin.
func (s *Service) SaveCanned(ctx context.Context, actor auth.Account, c Canned) (Canned, error) {
	c.Shortcut = strings.ToLower(strings.TrimPrefix(strings.TrimSpace(c.Shortcut), "/"))
	c.Title, c.Body, c.Team = strings.TrimSpace(c.Title), strings.TrimSpace(c.Body), strings.TrimSpace(c.Team)
	switch {
	case !shortcutRe.MatchString(c.Shortcut):
		return c, fmt.Errorf("handoff: canned: %w", concierge.Invalidf("shortcut %q: want 1-32 of a-z0-9_-", c.Shortcut))
	case c.Body == "" || len(c.Body) > MaxText:
		return c, fmt.Errorf("handoff: canned: %w", concierge.Invalidf("the text needs 1-%d bytes", MaxText))
	case len(c.Title) > 200:
		return c, fmt.Errorf("handoff: canned: %w", concierge.Invalidf("the title is longer than 200 bytes"))
	case c.Team != "" && s.teams[c.Team] == nil:
		return c, fmt.Errorf("handoff: canned: %w", concierge.Invalidf("no team %q", c.Team))
	case !s.mayEditCanned(actor, c.Team):
		return c, fmt.Errorf("handoff: canned: %w", forbidden("only admins manage shared responses, and agents their own teams'"))
	}
	if c.ID != 0 {
		old, err := s.store.CannedResponse(ctx, c.ID)
		if err != nil {
			return c, fmt.Errorf("handoff: canned: %w", err)
		}
		if !s.mayEditCanned(actor, old.Team) {
			return c, fmt.Errorf("handoff: canned: %w", forbidden("this response belongs to another team"))
		}
	}
	c.CreatedBy = actor.ID
	return s.store.SaveCanned(ctx, c)
}

func (s *Service) mayEditCanned(actor auth.Account, team string) bool {
	return actor.Admin() || (team != "" && contains(actor.Teams, team))
}

// DeleteCanned deletes a canned response the actor may manage.
func (s *Service) DeleteCanned(ctx context.Context, actor auth.Account, id int64) error {
	old, err := s.store.CannedResponse(ctx, id)
	if err != nil {
		return fmt.Errorf("handoff: canned: %w", err)
	}
	if !s.mayEditCanned(actor, old.Team) {
		return fmt.Errorf("handoff: canned: %w", forbidden("this response belongs to another team"))
	}
	return s.store.DeleteCanned(ctx, id)
}

// Locate returns a conversation's team and assignee, for routing events to panels.
func (s *Service) Locate(ctx context.Context, convID int64) (team string, assignee int64, err error) {
	c, err := s.store.Conversation(ctx, convID)
	if err != nil {
		return "", 0, fmt.Errorf("handoff: locate %d: %w", convID, err)
	}
	return c.Team, c.AssigneeID, nil
}
