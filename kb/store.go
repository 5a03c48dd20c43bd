package kb

import (
	"context"
	"time"

	"github.com/conciergehq/concierge"
)

// Store keeps the articles, their versions and their statistics. The database is the
// source of truth; the search index is rebuilt from it. internal/store implements it.
type Store interface {
	// SaveArticles applies changes in one transaction: all or nothing. Each change
	// writes a new version; the store sets Version, Seq, CreatedAt, UpdatedAt, Author
	// and DeletedAt on the returned articles. A change whose BaseVersion does not match
	// fails the whole call with concierge.ErrConflict.
	SaveArticles(ctx context.Context, changes []Change) ([]Article, error)
	// Article returns the current state of an article, deleted or not.
	Article(ctx context.Context, id string) (Article, error)
	// ArticlesByID returns the articles among ids that exist (deleted included).
	ArticlesByID(ctx context.Context, ids []string) (map[string]Article, error)
	// Articles lists articles matching f, most recently updated first, and how many
	// match in all.
	Articles(ctx context.Context, f Filter) ([]Article, int, error)
	// ArticleChanges returns articles changed after seq (deleted included), by seq.
	ArticleChanges(ctx context.Context, afterSeq int64, limit int) ([]Article, error)
	// KBSeq is the KB's change counter.
	KBSeq(ctx context.Context) (int64, error)
	// ArticleCount counts articles ever stored (deleted included).
	ArticleCount(ctx context.Context) (int, error)
	// ArticleVersions lists an article's versions, newest first.
	ArticleVersions(ctx context.Context, id string) ([]Version, error)
	// ArticleVersion returns one version.
	ArticleVersion(ctx context.Context, id string, version int) (Version, error)
	// CountArticleView and CountArticleVote add to an article's statistics.
	CountArticleView(ctx context.Context, id string) error
	CountArticleVote(ctx context.Context, id string, helpful bool) error
	// GapQuestions lists customer questions the bot could not answer, newest first.
	GapQuestions(ctx context.Context, since time.Time, limit int) ([]GapQuestion, error)
}

// Change is one new version of an article.
type Change struct {
	// Article is the new state. With DeletedAt set the article is (soft) deleted.
	Article Article
	// Action says what the save did: create, edit, publish, unpublish, restore,
	// delete, import.
	Action string
	Author string
	// BaseVersion guards against lost updates: AnyVersion accepts any current state,
	// 0 requires that the article does not exist yet, n that its current version is n.
	BaseVersion int
}

// AnyVersion is a Change.BaseVersion that accepts whatever is stored.
const AnyVersion = -1

// Version is one saved state of an article.
type Version struct {
	Version int       `json:"version"`
	Action  string    `json:"action"`
	Author  string    `json:"author,omitempty"`
	At      time.Time `json:"at"`
	// Article is the article as this version left it.
	Article Article `json:"article"`
}

// Filter selects articles to list.
type Filter struct {
	Lang   string
	Tag    string
	Team   string
	Status Status
	// Deleted lists deleted articles (the trash) instead of live ones.
	Deleted bool
	Limit   int
	Offset  int
}

// GapQuestion is a customer question the bot found no confident answer for.
type GapQuestion struct {
	Query    string    `json:"query"`
	Language string    `json:"language,omitempty"`
	Score    float64   `json:"score"`
	Article  string    `json:"article_id,omitempty"` // the best (unconfident) candidate
	At       time.Time `json:"at"`
}

// Publisher tells the rest of the process (and later other instances) about changes.
type Publisher interface {
	Publish(topic string, ev concierge.Event)
}
