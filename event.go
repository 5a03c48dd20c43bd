package concierge

import (
	"encoding/json"
	"strconv"
	"time"
)

// EventKind names what happened. Events travel over the bus (in-process now, NATS when
// several instances share the work), so they are plain JSON-serialisable values.
type EventKind string

const (
	// EventMessage: a message was stored (Message set).
	EventMessage EventKind = "message"
	// EventStatus: a conversation changed status, team or assignee (Conversation set).
	EventStatus EventKind = "status"
	// EventTyping: someone is typing (Typing set).
	EventTyping EventKind = "typing"
	// EventDelivery: a message was delivered or failed for good (Delivery set).
	EventDelivery EventKind = "delivery"
	// EventQueue: a team's queue changed (Team set); panels refresh their snapshot.
	EventQueue EventKind = "queue"
	// EventPresence: an agent's presence changed (Data set).
	EventPresence EventKind = "presence"
	// EventArticle: a KB article was saved, published or deleted (Data carries its id).
	EventArticle EventKind = "article"
)

// Event is one change, published after it was committed.
type Event struct {
	Kind           EventKind       `json:"kind"`
	ConversationID int64           `json:"conversation_id,omitempty"`
	Team           string          `json:"team,omitempty"`
	Message        *Message        `json:"message,omitempty"`
	Conversation   *Conversation   `json:"conversation,omitempty"`
	Typing         *Typing         `json:"typing,omitempty"`
	Delivery       *Delivery       `json:"delivery,omitempty"`
	Data           json.RawMessage `json:"data,omitempty"`
	At             time.Time       `json:"at"`
}

// Typing says who is typing in a conversation, and whether they started or stopped.
type Typing struct {
	Sender Sender `json:"sender"`
	Name   string `json:"name,omitempty"`
	On     bool   `json:"on"`
}

// Delivery reports the fate of an outbound message.
type Delivery struct {
	MessageID int64  `json:"message_id"`
	Seq       int64  `json:"seq"`
	State     string `json:"state"` // sent, failed
	Error     string `json:"error,omitempty"`
}

// Bus topics. A conversation's own topic carries its messages and typing; the agents'
// topic carries everything the panel shows; the kb topic carries article changes.
const (
	TopicAgents = "agents"
	TopicKB     = "kb"
)

// ConversationTopic is the topic of one conversation's events.
func ConversationTopic(id int64) string { return "conv." + strconv.FormatInt(id, 10) }
