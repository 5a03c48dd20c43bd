package bot

import (
	"encoding/json"

	"github.com/conciergehq/concierge"
)

// stateVersion changes when the meaning of a field changes; an older state is dropped
// (the conversation simply continues without the pending question).
const stateVersion = 1

// state is the bot's memory between turns of one conversation, kept as JSON in
// concierge.Conversation.BotState. It records what the bot is waiting for (an answer to
// "did this help?", a pick among offered articles, a detail) and enough context to
// continue: the topic, the candidates, what was tried.
type state struct {
	V    int    `json:"v"`
	Lang string `json:"lang,omitempty"`
	// Await is what the last bot message asked for: "helpful", "pick", "detail",
	// "rephrase", or "" (nothing: the next message is a new question).
	Await string `json:"await,omitempty"`
	// Choices are the articles offered by a clarify, in the order shown (pick:<n>).
	Choices []choice `json:"choices,omitempty"`
	// Article is the current topic's article and Score the confidence it was chosen with.
	Article string  `json:"article,omitempty"`
	Score   float64 `json:"score,omitempty"`
	// Candidates are the other articles considered for the topic (next answer on "no").
	Candidates []concierge.Candidate `json:"candidates,omitempty"`
	// Tried are the articles answered for this topic that did not help.
	Tried []string `json:"tried,omitempty"`
	// Need are the details still to ask for, the first being asked now; Asks counts the
	// attempts at it; Then is what happens once they are collected: "answer" or
	// "escalate:<reason>".
	Need []string `json:"need,omitempty"`
	Asks int      `json:"asks,omitempty"`
	Then string   `json:"then,omitempty"`
	// Skipped are details the customer could not give (asked the maximum times).
	Skipped []string `json:"skipped,omitempty"`
	// Topic is the last question searched, for follow-ups ("and on Windows?").
	Topic string `json:"topic,omitempty"`
	// Clarified counts clarify rounds without an answer since; a second low-confidence
	// turn after one escalates.
	Clarified int `json:"clarified,omitempty"`
	// Negative counts consecutive messages with negative sentiment.
	Negative int `json:"negative,omitempty"`
	// Seen is the sequence number of the last message the bot answered: details in
	// messages up to it are already on the conversation and are not extracted again.
	Seen int64 `json:"seen,omitempty"`
}

type choice struct {
	ID    string `json:"id"`
	Title string `json:"title"`
}

func loadState(b []byte) state {
	var s state
	if len(b) == 0 || json.Unmarshal(b, &s) != nil || s.V != stateVersion {
		return state{V: stateVersion}
	}
	return s
}

func (s *state) encode() []byte {
	s.V = stateVersion
	b, _ := json.Marshal(s)
	return b
}

// settle forgets what the bot was waiting for (the conversation moved on).
func (s *state) settle() {
	s.Await, s.Choices, s.Need, s.Asks, s.Then = "", nil, nil, 0, ""
}
