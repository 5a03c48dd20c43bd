// Package kb is the knowledge base: articles written by content editors (Markdown with
// YAML front matter), their versions, and the Bleve index the triage bot and the editor
// search.
package kb

import "time"

// Status is an article's publication state. Only published articles answer customers.
type Status string

const (
	StatusDraft     Status = "draft"
	StatusPublished Status = "published"
)

// Article is one topic the bot can answer.
type Article struct {
	// ID is the slug, unique across the KB ("reset-password").
	ID    string `json:"id" yaml:"id"`
	Title string `json:"title" yaml:"title"`
	// Body is Markdown.
	Body string `json:"body" yaml:"-"`
	// Lang is a BCP-47 tag (en, zh, ja, ko, pt-BR…).
	Lang string   `json:"lang" yaml:"lang"`
	Tags []string `json:"tags,omitempty" yaml:"tags,omitempty"`
	// Team takes follow-ups a person must handle ("billing").
	Team string `json:"team,omitempty" yaml:"team,omitempty"`
	// Questions are sample phrasings customers use for this topic.
	Questions []string `json:"questions,omitempty" yaml:"questions,omitempty"`
	// Details are what the bot must collect for this topic before answering or escalating.
	Details []Detail `json:"details,omitempty" yaml:"details,omitempty"`
	// Escalate: the bot collects the details, then hands the conversation to a person.
	Escalate bool   `json:"escalate,omitempty" yaml:"escalate,omitempty"`
	Status   Status `json:"status" yaml:"status,omitempty"`
	// Version counts saves; every saved version is kept.
	Version   int       `json:"version" yaml:"-"`
	Author    string    `json:"author,omitempty" yaml:"-"`
	CreatedAt time.Time `json:"created_at" yaml:"-"`
	UpdatedAt time.Time `json:"updated_at" yaml:"-"`
}

// Detail is one fact the bot asks the customer for (an order number, a region).
type Detail struct {
	// Name is the key the value is stored under on the conversation ("order_number").
	Name string `json:"name" yaml:"name"`
	// Prompt is the question to ask, per language ("en": "What is your order number?").
	Prompt map[string]string `json:"prompt,omitempty" yaml:"prompt,omitempty"`
	// Pattern is a regular expression a valid value matches (optional).
	Pattern string `json:"pattern,omitempty" yaml:"pattern,omitempty"`
	// Example is shown in the hint when a value does not match ("ORD-123456").
	Example string `json:"example,omitempty" yaml:"example,omitempty"`
}

// Query is a search.
type Query struct {
	Text string
	// Lang restricts to one language ("" searches all).
	Lang string
	// Limit is the number of hits (default 10).
	Limit int
	// Drafts includes unpublished articles (the editor); customers never see drafts.
	Drafts bool
}

// Hit is one search result.
type Hit struct {
	ID    string  `json:"id"`
	Title string  `json:"title"`
	Lang  string  `json:"lang"`
	Score float64 `json:"score"`
	// Snippet is a highlighted extract (HTML, sanitised: only <mark> tags).
	Snippet string `json:"snippet,omitempty"`
}
