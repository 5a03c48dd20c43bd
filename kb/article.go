// Package kb is the knowledge base: articles written by content editors (Markdown with
// YAML front matter), their versions, and the Bleve index the triage bot and the editor
// search.
package kb

import (
	"time"
)

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
	// DeletedAt is set when the article was deleted (soft: its versions stay and it can
	// be restored).
	DeletedAt *time.Time `json:"deleted_at,omitempty" yaml:"-"`
	// Stats are what customers did with the article (views, helpfulness votes).
	Stats Stats `json:"stats" yaml:"-"`
	// Seq is the KB change counter at the article's last change; the index catches up
	// on changes by it.
	Seq int64 `json:"-" yaml:"-"`
}

// Stats count customers' use of an article.
type Stats struct {
	Views      int64 `json:"views"`
	Helpful    int64 `json:"helpful"`
	NotHelpful int64 `json:"not_helpful"`
}

// Deleted reports whether the article was deleted.
func (a *Article) Deleted() bool { return a.DeletedAt != nil }

// Published reports whether customers may see the article.
func (a *Article) Published() bool { return a.Status == StatusPublished && a.DeletedAt == nil }

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
	// Tag restricts to articles carrying the tag.
	Tag string
}

// Hit is one search result.
type Hit struct {
	ID    string  `json:"id"`
	Title string  `json:"title"`
	Lang  string  `json:"lang"`
	Score float64 `json:"score"`
	// Snippet is a highlighted extract (HTML, sanitised: only <mark> tags).
	Snippet string `json:"snippet,omitempty"`
	// Question is the article's sample question that matched best (when a question
	// matched better than the title and body): the bot can show it ("Did you mean …?").
	Question string `json:"question,omitempty"`
	// Field says what matched best: "question", "title", "body" or "tags".
	Field    string `json:"field,omitempty"`
	Status   Status `json:"status"`
	Team     string `json:"team,omitempty"`
	Escalate bool   `json:"escalate,omitempty"`
}
