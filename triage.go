package concierge

import (
	"encoding/json"
	"regexp"
	"strconv"
	"strings"
)

// Decision is what the triage bot did with one user message, and why. Decisions are
// stored: the KB editor's content-gap page is built from the low-confidence ones.
type Decision struct {
	Action    string  `json:"action"` // answer, clarify, ask, escalate, smalltalk, resolved
	ArticleID string  `json:"article_id,omitempty"`
	Score     float64 `json:"score"`
	Reason    string  `json:"reason,omitempty"`
	Query     string  `json:"query,omitempty"`
	Language  string  `json:"language,omitempty"`
	// Gap marks a question the KB could not answer (no confident match).
	Gap bool `json:"gap,omitempty"`
}

// Candidate is an article the bot considered, with its calibrated confidence.
type Candidate struct {
	ArticleID string  `json:"article_id"`
	Title     string  `json:"title"`
	Score     float64 `json:"score"`
}

// Escalation is everything a person needs to take over from the bot.
type Escalation struct {
	Reason     string            `json:"reason"` // asked_for_human, low_confidence, frustrated, article_escalates, tier, not_helpful, outside_hours…
	Team       string            `json:"team,omitempty"`
	Details    map[string]string `json:"details,omitempty"`
	Candidates []Candidate       `json:"candidates,omitempty"`
	Language   string            `json:"language,omitempty"`
	Sentiment  string            `json:"sentiment,omitempty"` // positive, neutral, negative
	// Note is a one-line summary for the agent ("asked for a refund of order 1234").
	Note string `json:"note,omitempty"`
}

// JSON encodes e for storage; Escalation holds only plain values, so it cannot fail.
func (e *Escalation) JSON() string {
	b, _ := json.Marshal(e)
	return string(b)
}

// Reply is what a Responder wants done after one user message: messages to send,
// conversation facts to remember, and possibly an escalation.
type Reply struct {
	Messages   []Outgoing
	Language   string
	Details    map[string]string
	BotState   []byte
	Decision   Decision
	Escalation *Escalation
	// Resolved closes the conversation as solved by the bot ("Did this help?" → yes).
	Resolved bool
}

// ratingRe accepts "5", "5 great help", "5/5", "★★★★★" is handled separately.
var ratingRe = regexp.MustCompile(`^\s*([1-5])(?:\s*/\s*5)?(?:[\s,.:;!-]+(.*))?$`)

// ParseRating reads a customer-satisfaction answer: a "csat:N" quick-reply payload, or
// text starting with a digit 1–5 (optionally followed by a comment), as channels without
// buttons send it. It reports false when the text is not a rating.
func ParseRating(text, payload string) (rating int, comment string, ok bool) {
	if v, found := strings.CutPrefix(payload, "csat:"); found {
		n, err := strconv.Atoi(v)
		if err == nil && n >= 1 && n <= 5 {
			return n, strings.TrimSpace(text), true
		}
		return 0, "", false
	}
	if stars := strings.Count(text, "★"); stars >= 1 && stars <= 5 && strings.Trim(text, "★ ") == "" {
		return stars, "", true
	}
	m := ratingRe.FindStringSubmatch(text)
	if m == nil {
		return 0, "", false
	}
	n, _ := strconv.Atoi(m[1])
	return n, strings.TrimSpace(m[2]), true
}
