// Package concierge holds the vocabulary every part of the gateway shares: contacts,
// conversations, messages, what arrives from a channel and what leaves for it.
//
// It imports only the standard library so that every other package can depend on it
// without pulling in storage, transport or UI code.
package concierge

import (
	"errors"
	"fmt"
	"strings"
	"time"
)

// Errors shared across packages. Wrap them with context; test them with errors.Is.
var (
	// ErrNotFound means the row, article, account or conversation does not exist.
	ErrNotFound = errors.New("not found")
	// ErrConflict means the change lost a race (a claim someone else won, a stale state).
	ErrConflict = errors.New("conflict")
	// ErrInvalid means the input was refused; the wrapped message says why.
	ErrInvalid = errors.New("invalid input")
	// ErrUnreachable means the channel will not deliver to this contact any more
	// (bot blocked, unsubscribed, outside the reply window) until the contact writes again.
	ErrUnreachable = errors.New("contact unreachable")
	// ErrForbidden means the caller may not do this.
	ErrForbidden = errors.New("forbidden")
)

// Invalidf builds an ErrInvalid with a reason that is safe to show to the caller.
func Invalidf(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrInvalid, fmt.Sprintf(format, args...))
}

// Status is where a conversation stands: the bot has it, it waits for a person,
// a person has it, or it is over.
type Status string

const (
	StatusBot      Status = "bot"
	StatusQueued   Status = "queued"
	StatusAssigned Status = "assigned"
	StatusClosed   Status = "closed"
)

// Valid reports whether s is one of the four states.
func (s Status) Valid() bool {
	switch s {
	case StatusBot, StatusQueued, StatusAssigned, StatusClosed:
		return true
	}
	return false
}

// Open reports whether the conversation still takes messages.
func (s Status) Open() bool { return s.Valid() && s != StatusClosed }

// WithHuman reports whether a person owns (or is about to own) the conversation,
// so the bot must stay silent.
func (s Status) WithHuman() bool { return s == StatusQueued || s == StatusAssigned }

// Sender is who wrote a message.
type Sender string

const (
	SenderUser   Sender = "user"
	SenderBot    Sender = "bot"
	SenderAgent  Sender = "agent"
	SenderSystem Sender = "system"
)

// Valid reports whether s is a known sender kind.
func (s Sender) Valid() bool {
	switch s {
	case SenderUser, SenderBot, SenderAgent, SenderSystem:
		return true
	}
	return false
}

// Contact is one person as a channel knows them: a widget visitor, a Telegram chat,
// a WeChat OpenID. Attributes carry what the host site vouched for (verified) or what
// the channel told us (name, language).
type Contact struct {
	ID         int64             `json:"id"`
	Channel    string            `json:"channel"`
	ExternalID string            `json:"external_id"`
	Name       string            `json:"name,omitempty"`
	Email      string            `json:"email,omitempty"`
	Verified   bool              `json:"verified"`
	Attributes map[string]string `json:"attributes,omitempty"`
	// Unreachable is set when the channel refused delivery for good (blocked, unsubscribed,
	// reply window closed) and cleared when the contact writes again.
	Unreachable       bool      `json:"unreachable"`
	UnreachableReason string    `json:"unreachable_reason,omitempty"`
	CreatedAt         time.Time `json:"created_at"`
	UpdatedAt         time.Time `json:"updated_at"`
}

// Tier is the customer's service tier (basic, premium, enterprise, vip) when known.
func (c *Contact) Tier() string {
	if c == nil {
		return ""
	}
	return strings.ToLower(c.Attributes["tier"])
}

// DisplayName is the best name we have for the contact.
func (c *Contact) DisplayName() string {
	switch {
	case c == nil:
		return ""
	case c.Name != "":
		return c.Name
	case c.Email != "":
		return c.Email
	}
	return fmt.Sprintf("%s visitor #%d", c.Channel, c.ID)
}

// MergeProfile applies what a channel or the host site says about the contact and reports
// whether anything changed. A verified profile overrides; an unverified one only fills
// gaps, so a channel's display name never replaces what the host site vouched for.
func (c *Contact) MergeProfile(p Profile) bool {
	changed := false
	set := func(dst *string, v string) {
		if v != "" && *dst != v && (p.Verified || !c.Verified || *dst == "") {
			*dst, changed = v, true
		}
	}
	set(&c.Name, p.Name)
	set(&c.Email, p.Email)
	for k, v := range p.Attributes {
		if c.Attributes == nil {
			c.Attributes = map[string]string{}
		}
		cur, ok := c.Attributes[k]
		if cur != v && (p.Verified || !c.Verified || !ok) {
			c.Attributes[k], changed = v, true
		}
	}
	if p.Verified && !c.Verified {
		c.Verified, changed = true, true
	}
	return changed
}

// Conversation is one support case on one channel, from the first message to closing.
type Conversation struct {
	ID        int64  `json:"id"`
	ContactID int64  `json:"contact_id"`
	Channel   string `json:"channel"`
	Status    Status `json:"status"`
	Team      string `json:"team,omitempty"`
	Priority  int    `json:"priority"`
	Language  string `json:"language,omitempty"`
	// Details are what the bot collected (order number, region…), keyed by detail name.
	Details map[string]string `json:"details,omitempty"`
	// Meta holds channel facts worth keeping (Telegram deep-link payload, WeChat QR scene).
	Meta map[string]string `json:"meta,omitempty"`
	// AssigneeID is the agent who owns the conversation, 0 when nobody does.
	AssigneeID int64 `json:"assignee_id,omitempty"`
	// LastSeq is the sequence number of the newest message.
	LastSeq int64 `json:"last_seq"`
	// LastUserSeq is the sequence number of the customer's newest message; while it is
	// above HandledSeq, the gateway has messages to route.
	LastUserSeq int64 `json:"-"`
	// HandledSeq is the newest user message the gateway has routed; a restart routes the rest.
	HandledSeq int64 `json:"handled_seq"`
	// BotState is the triage bot's memory between turns (pending question, offered
	// choices); opaque to everyone else.
	BotState []byte `json:"-"`
	// PendingEscalation is an escalation the bot decided that the handoff has not yet
	// enqueued (set and cleared by the store; redone after a restart).
	PendingEscalation *Escalation `json:"-"`
	// CSATPending is set when a closed conversation waits for the customer's rating.
	CSATPending bool       `json:"csat_pending,omitempty"`
	CreatedAt   time.Time  `json:"created_at"`
	UpdatedAt   time.Time  `json:"updated_at"`
	ClosedAt    *time.Time `json:"closed_at,omitempty"`
}

// Detail returns a collected detail, or "".
func (c *Conversation) Detail(name string) string {
	if c == nil || c.Details == nil {
		return ""
	}
	return c.Details[name]
}

// Attachment is a file, picture, voice note, location or link a message carries.
// URL points at our own server (or the source) so agents never need channel credentials.
type Attachment struct {
	Kind string `json:"kind"` // image, file, voice, video, location, link
	URL  string `json:"url,omitempty"`
	Name string `json:"name,omitempty"`
	MIME string `json:"mime,omitempty"`
	Size int64  `json:"size,omitempty"`
	// Ref is the channel's own handle (Telegram file_id, WeChat MediaId).
	Ref string `json:"ref,omitempty"`
	// Text is a description the channel supplied: a voice transcript, a link title, a place.
	Text string `json:"text,omitempty"`
}

// QuickReply is a button offered with a message. Channels without buttons render them as
// numbered choices; Payload comes back in Inbound.Payload when the user picks one.
type QuickReply struct {
	Label   string `json:"label"`
	Payload string `json:"payload"`
}

// Message is one entry of a conversation's transcript.
type Message struct {
	ID             int64  `json:"id"`
	ConversationID int64  `json:"conversation_id"`
	Seq            int64  `json:"seq"`
	Sender         Sender `json:"sender"`
	// SenderID is the agent's account id for agent messages.
	SenderID   int64  `json:"sender_id,omitempty"`
	SenderName string `json:"sender_name,omitempty"`
	Text       string `json:"text"`
	// HTML is a server-rendered, sanitised rendering of Text (bot answers from Markdown).
	// User and agent text never has one: it is shown as text.
	HTML         string       `json:"html,omitempty"`
	Attachments  []Attachment `json:"attachments,omitempty"`
	QuickReplies []QuickReply `json:"quick_replies,omitempty"`
	// Payload is the quick-reply payload a user message answered with.
	Payload string `json:"payload,omitempty"`
	// ExternalID is the channel's own message id, unique per channel (dedupe key).
	ExternalID string `json:"external_id,omitempty"`
	// Internal marks an agents' note: stored and shown in the panel, never sent.
	Internal bool `json:"internal,omitempty"`
	// Edited is set when the channel reported an edit of an earlier user message.
	Edited    bool      `json:"edited,omitempty"`
	CreatedAt time.Time `json:"created_at"`
}

// Inbound is what a channel adapter hands the gateway: one thing a customer did.
type Inbound struct {
	// Channel is the adapter instance ("web", "telegram:support_bot", "wechat:gh_x").
	Channel string
	// ContactID is the customer's id on that channel (chat id, OpenID, visitor key).
	ContactID string
	// MessageID is the channel's id for this delivery; duplicates are dropped. Empty
	// disables dedupe (the adapter dedupes some other way).
	MessageID string
	Profile   Profile
	Text      string
	// Payload is the quick-reply or callback payload the user picked.
	Payload     string
	Attachments []Attachment
	// Action is an explicit request that does not depend on the text: ActionHuman for
	// Telegram's /human or a WeChat menu key, ActionStart for /start or a follow.
	Action Action
	// Meta is merged into the conversation's Meta (deep-link payload, QR scene).
	Meta map[string]string
	// Edited marks a correction of an earlier message.
	Edited     bool
	ReceivedAt time.Time
}

// Action is an explicit customer request carried next to (or instead of) text.
type Action string

const (
	ActionNone  Action = ""
	ActionStart Action = "start" // conversation opened (/start, follow, widget open)
	ActionHuman Action = "human" // asked for a person through a command or menu
)

// actionPayload prefixes the payload under which an Inbound's Action is stored.
const actionPayload = "action:"

// StoredPayload is the payload a message stores for an inbound: the quick-reply payload,
// or the explicit action ("action:human") so the bot sees it when routing the message.
func (in *Inbound) StoredPayload() string {
	if in.Payload == "" && in.Action != ActionNone {
		return actionPayload + string(in.Action)
	}
	return in.Payload
}

// Action is the explicit request a user message carries (see Inbound.Action).
func (m *Message) Action() Action {
	if a, ok := strings.CutPrefix(m.Payload, actionPayload); ok {
		return Action(a)
	}
	return ActionNone
}

// Profile is what the channel (or the host site, when verified) told us about the contact.
type Profile struct {
	Name       string
	Email      string
	Verified   bool
	Attributes map[string]string
}

// Validate refuses an inbound that cannot be stored.
func (in *Inbound) Validate(maxText int) error {
	switch {
	case in.Channel == "":
		return Invalidf("inbound without a channel")
	case in.ContactID == "":
		return Invalidf("inbound without a contact id")
	case in.Text == "" && in.Payload == "" && len(in.Attachments) == 0 && in.Action == ActionNone:
		return Invalidf("empty message")
	case maxText > 0 && len(in.Text) > maxText:
		return Invalidf("message of %d bytes exceeds the %d byte limit", len(in.Text), maxText)
	}
	return nil
}

// Outgoing is a message the bot, an agent or the system wants the customer (or, when
// Internal, the other agents) to see.
type Outgoing struct {
	Sender       Sender
	SenderID     int64
	SenderName   string
	Text         string
	HTML         string
	Attachments  []Attachment
	QuickReplies []QuickReply
	Internal     bool
}
