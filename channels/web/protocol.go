package web

import (
	"time"

	"github.com/conciergehq/concierge"
)

// Frame types of the widget protocol (docs/widget-protocol.md). Every frame is one JSON
// object in one WebSocket text message, with its type in "type".
const (
	// client → server
	frameHello   = "hello"
	frameMessage = "message"
	frameTyping  = "typing"
	framePing    = "ping"
	// server → client (and "message", "typing")
	frameWelcome = "welcome"
	frameAck     = "ack"
	frameStatus  = "status"
	frameError   = "error"
	framePong    = "pong"
)

// Error codes carried by error frames. A client acts on the code, never on the text.
const (
	// CodeBadFrame: the frame was not JSON, had an unknown type or a bad field.
	CodeBadFrame = "bad_frame"
	// CodeHelloRequired: the first frame of a connection must be hello.
	CodeHelloRequired = "hello_required"
	// CodeTooLarge: the message text (or the frame) is over the limit; it was not stored.
	CodeTooLarge = "too_large"
	// CodeInvalid: the message was refused as it is (empty, bad id, bad payload).
	CodeInvalid = "invalid"
	// CodeRateLimited: too many messages; resend after retry_after_ms.
	CodeRateLimited = "rate_limited"
	// CodeIdentityRequired: this server only talks to visitors the host site verified.
	CodeIdentityRequired = "identity_required"
	// CodeIdentityInvalid: the user_hash does not match the user id.
	CodeIdentityInvalid = "identity_invalid"
	// CodeUnavailable: the message could not be stored right now; resend it.
	CodeUnavailable = "unavailable"
)

// clientFrame is any frame a client sends; which fields count depends on Type.
type clientFrame struct {
	Type string `json:"type"`

	// hello
	Token          string     `json:"token,omitempty"`
	ConversationID int64      `json:"conversation_id,omitempty"`
	Seq            int64      `json:"seq,omitempty"`
	User           *userClaim `json:"user,omitempty"`
	Locale         string     `json:"locale,omitempty"`
	Page           string     `json:"page,omitempty"`

	// message
	ID      string `json:"id,omitempty"`
	Text    string `json:"text,omitempty"`
	Payload string `json:"payload,omitempty"`
	Action  string `json:"action,omitempty"`

	// typing
	On bool `json:"on,omitempty"`
}

// userClaim is what the host page said about the signed-in user (setUser).
type userClaim struct {
	ID         string            `json:"id"`
	Email      string            `json:"email,omitempty"`
	Name       string            `json:"name,omitempty"`
	UserHash   string            `json:"user_hash,omitempty"`
	Attributes map[string]string `json:"attributes,omitempty"`
}

type welcomeFrame struct {
	Type string `json:"type"`
	// Token is set when the server issued a new visitor token; the client must keep it.
	Token          string           `json:"token,omitempty"`
	ConversationID int64            `json:"conversation_id"`
	Status         concierge.Status `json:"status,omitempty"`
	Verified       bool             `json:"verified"`
	MaxText        int              `json:"max_text"`
}

type messageFrame struct {
	Type           string                 `json:"type"`
	ConversationID int64                  `json:"conversation_id"`
	Seq            int64                  `json:"seq"`
	Sender         concierge.Sender       `json:"sender"`
	SenderName     string                 `json:"sender_name,omitempty"`
	Text           string                 `json:"text"`
	HTML           string                 `json:"html,omitempty"`
	QuickReplies   []concierge.QuickReply `json:"quick_replies,omitempty"`
	Payload        string                 `json:"payload,omitempty"`
	ClientID       string                 `json:"client_id,omitempty"`
	At             time.Time              `json:"at"`
}

type ackFrame struct {
	Type           string `json:"type"`
	ID             string `json:"id"`
	ConversationID int64  `json:"conversation_id"`
	Seq            int64  `json:"seq"`
	Duplicate      bool   `json:"duplicate,omitempty"`
}

type typingFrame struct {
	Type   string           `json:"type"`
	Sender concierge.Sender `json:"sender"`
	Name   string           `json:"name,omitempty"`
	On     bool             `json:"on"`
}

type statusFrame struct {
	Type           string           `json:"type"`
	ConversationID int64            `json:"conversation_id"`
	Status         concierge.Status `json:"status"`
}

type errorFrame struct {
	Type    string `json:"type"`
	Code    string `json:"code"`
	Message string `json:"message"`
	// ID is the client message id the error is about, when there is one.
	ID           string `json:"id,omitempty"`
	RetryAfterMS int64  `json:"retry_after_ms,omitempty"`
}

type pongFrame struct {
	Type string `json:"type"`
}

// newMessageFrame renders a stored message for the widget. User messages carry the
// client's own id back so the sender's other tabs and its resends match them up.
func newMessageFrame(m *concierge.Message) messageFrame {
	f := messageFrame{Type: frameMessage, ConversationID: m.ConversationID, Seq: m.Seq, Sender: m.Sender,
		SenderName: m.SenderName, Text: m.Text, QuickReplies: m.QuickReplies, At: m.CreatedAt}
	switch m.Sender {
	case concierge.SenderBot:
		// Only the bot's server-rendered, sanitised HTML is passed on; agents' and users'
		// text is always shown as text.
		f.HTML = m.HTML
	case concierge.SenderUser:
		if _, id, ok := cutClientID(m.ExternalID); ok {
			f.ClientID = id
		}
		if m.Action() == concierge.ActionNone {
			f.Payload = m.Payload
		}
	}
	return f
}
