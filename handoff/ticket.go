// Package handoff queues escalated conversations for people and tracks them to closure:
// routing to teams, the queue and its order, auto-assignment and claims, agent presence,
// SLA timers paused outside business hours, offline tickets, transfers, closing and the
// satisfaction survey. Everything the customer is told leaves through the conversation's
// own channel (Gateway.Send), so it works the same on the widget, Telegram and WeChat.
package handoff

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/conciergehq/concierge"
)

// Ticket is the people's side of one escalated conversation: why it was escalated, its
// SLA clock, who has it and how it ended. Its conversation carries the status, team and
// assignee; the ticket carries everything else.
type Ticket struct {
	ConversationID int64                `json:"conversation_id"`
	Team           string               `json:"team"`
	Tier           string               `json:"tier"`
	Reason         string               `json:"reason"`
	Escalation     concierge.Escalation `json:"escalation"`
	// Offline: escalated while the team's hours were closed; it waits for them to open.
	Offline      bool      `json:"offline"`
	ContactEmail string    `json:"contact_email,omitempty"`
	EscalatedAt  time.Time `json:"escalated_at"`
	// QueuedAt is when it last entered the queue (escalation, transfer or re-queue).
	QueuedAt         time.Time  `json:"queued_at"`
	FirstResponseDue time.Time  `json:"first_response_due"`
	ResolutionDue    time.Time  `json:"resolution_due"`
	AssignedAt       *time.Time `json:"assigned_at,omitempty"`
	FirstResponseAt  *time.Time `json:"first_response_at,omitempty"`
	ClosedAt         *time.Time `json:"closed_at,omitempty"`
	// Breaches are recorded when they happen (or when the late reply is sent).
	FirstResponseBreachedAt *time.Time `json:"first_response_breached_at,omitempty"`
	ResolutionBreachedAt    *time.Time `json:"resolution_breached_at,omitempty"`
	Resolution              Resolution `json:"resolution,omitempty"`
	Tags                    []string   `json:"tags,omitempty"`
	ClosedBy                int64      `json:"closed_by,omitempty"`
	Rating                  int        `json:"rating,omitempty"`
	RatingComment           string     `json:"rating_comment,omitempty"`
	RatedAt                 *time.Time `json:"rated_at,omitempty"`
	// Unread counts customer messages the assignee has not seen yet.
	Unread int `json:"unread"`
	// NoticePosition/NoticeAt: the last queue position the customer was told, and when.
	NoticePosition int       `json:"-"`
	NoticeAt       time.Time `json:"-"`
	Transfers      int       `json:"transfers"`
}

// Resolution is how a conversation ended.
type Resolution string

const (
	Resolved   Resolution = "resolved"
	Unresolved Resolution = "unresolved"
	Spam       Resolution = "spam"
)

// Valid reports whether r is one of the three outcomes.
func (r Resolution) Valid() bool { return r == Resolved || r == Unresolved || r == Spam }

// EscalationJSON encodes the escalation for storage.
func (t *Ticket) EscalationJSON() string { return t.Escalation.JSON() }

// DecodeEscalation reads a stored escalation; a damaged value leaves it empty.
func (t *Ticket) DecodeEscalation(s string) { _ = json.Unmarshal([]byte(s), &t.Escalation) }

// QueueItem is one line of a queue or of an agent's list: the conversation, its ticket
// and what the panel shows without opening it.
type QueueItem struct {
	Conversation concierge.Conversation `json:"conversation"`
	Ticket       Ticket                 `json:"ticket"`
	ContactName  string                 `json:"contact_name"`
	// Preview is the customer's latest message.
	Preview string `json:"preview,omitempty"`
	// Position is 1-based within the team's queue (queued conversations only).
	Position int `json:"position,omitempty"`
	// SLA is the state of the timers when the item was read.
	SLA SLAState `json:"sla"`
}

// SLAState is a ticket's SLA as of one moment.
type SLAState struct {
	// Target is "first_response" until an agent replied, then "resolution".
	Target string `json:"target"`
	// Due is when the current target is breached (wall time, business hours included).
	Due time.Time `json:"due"`
	// Total and Remaining are business-hours durations (milliseconds in JSON); Remaining
	// is negative once breached.
	TotalMS     int64 `json:"total_ms"`
	RemainingMS int64 `json:"remaining_ms"`
	// Paused: the team's hours are closed, so the timer is not running.
	Paused   bool `json:"paused"`
	Breached bool `json:"breached"`
}

// Tier ranks: a contact's tier sets the static part of a conversation's priority.
var tierRank = map[string]int{"basic": 0, "premium": 1, "enterprise": 2, "vip": 3}

// TierOf normalises a contact's tier ("" and unknown tiers are basic).
func TierOf(c *concierge.Contact) string {
	t := c.Tier()
	if _, ok := tierRank[t]; ok {
		return t
	}
	return "basic"
}

// NormaliseTags trims, lower-cases and dedupes tags, dropping empty ones.
func NormaliseTags(in []string) []string {
	var out []string
	for _, t := range in {
		t = strings.ToLower(strings.TrimSpace(t))
		if t != "" && len(t) <= 40 && !slices.Contains(out, t) {
			out = append(out, t)
		}
	}
	return out
}

// Canned is a saved reply agents insert with "/shortcut". Team "" is shared by all teams.
type Canned struct {
	ID        int64     `json:"id"`
	Team      string    `json:"team"`
	Shortcut  string    `json:"shortcut"`
	Title     string    `json:"title"`
	Body      string    `json:"body"`
	CreatedBy int64     `json:"created_by,omitempty"`
	UpdatedAt time.Time `json:"updated_at"`
}

// Stats summarise tickets closed in a period: satisfaction and SLA.
type Stats struct {
	Team             string  `json:"team"`
	Closed           int     `json:"closed"`
	Rated            int     `json:"rated"`
	AvgRating        float64 `json:"avg_rating"`
	FirstResponseMet int     `json:"first_response_met"`
	FirstResponseHit int     `json:"first_response_breached"`
	ResolutionHit    int     `json:"resolution_breached"`
	// Ratings counts answers per score, 1…5 at index 0…4.
	Ratings [5]int `json:"ratings"`
}

// ConflictError is a change that lost a race or no longer applies: the conversation was
// claimed, transferred or closed by someone else meanwhile. Conversation is how it is now.
type ConflictError struct {
	Op           string
	Conversation concierge.Conversation
}

func (e *ConflictError) Error() string {
	c := e.Conversation
	switch {
	case c.Status == concierge.StatusAssigned:
		return fmt.Sprintf("cannot %s conversation %d: it is already assigned to someone else", e.Op, c.ID)
	case c.Status == concierge.StatusClosed:
		return fmt.Sprintf("cannot %s conversation %d: it is closed", e.Op, c.ID)
	}
	return fmt.Sprintf("cannot %s conversation %d: it is %s (team %s)", e.Op, c.ID, c.Status, c.Team)
}

// Is makes errors.Is(err, concierge.ErrConflict) true.
func (e *ConflictError) Is(target error) bool { return target == concierge.ErrConflict }
