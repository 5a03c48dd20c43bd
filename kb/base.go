package kb

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	banalysis "github.com/blevesearch/bleve/v2/analysis"
	"github.com/rs/zerolog"

	"github.com/conciergehq/concierge"
)

// Base is the knowledge base: articles in the database, searched through a Bleve index
// on disk that follows the database. Writes go to the database first, then the index
// catches up (before the write returns, so an editor finds what they just saved); the
// index is rebuilt from the database when it is missing, corrupt, or built for another
// analysis. Searches read an index snapshot and never wait for writes.
type Base struct {
	store Store
	pub   Publisher
	log   zerolog.Logger
	now   func() time.Time
	path  string
	an    analysis
	w     weights

	ix atomic.Pointer[searchIndex] // nil: database only (another process holds the index)
	// mu serialises index updates (catch-up from the database).
	mu      sync.Mutex
	indexed atomic.Int64 // the change counter the index reflects
	fams    sync.Map     // analysis families present in the index (for searches in every language)

	anMu      sync.Mutex // guards analyzers
	analyzers map[string]banalysis.Analyzer

	// Poll is how often Run looks for changes made by other processes (kb import while
	// the server runs, other instances). Set before Run.
	Poll time.Duration
}

// Open opens the knowledge base over store with its index at indexPath ("" keeps the
// index in memory) and brings the index up to date. pub may be nil. When another process
// holds the index, Open fails with ErrIndexLocked; OpenDatabaseOnly then still allows
// changes.
func Open(ctx context.Context, store Store, indexPath string, pub Publisher, log zerolog.Logger) (*Base, error) {
	b := newBase(store, indexPath, pub, log)
	if err := b.openIndex(ctx); err != nil {
		return nil, err
	}
	return b, nil
}

// OpenDatabaseOnly opens the knowledge base without its index: imports, edits and
// exports work; searching does not. The process that holds the index picks the changes
// up (see Run).
func OpenDatabaseOnly(store Store, pub Publisher, log zerolog.Logger) *Base {
	return newBase(store, "", pub, log)
}

func newBase(store Store, indexPath string, pub Publisher, log zerolog.Logger) *Base {
	return &Base{store: store, pub: pub, log: log.With().Str("component", "kb").Logger(), now: time.Now,
		path: indexPath, an: defaultAnalysis, w: defaultWeights, Poll: 2 * time.Second}
}

func (b *Base) openIndex(ctx context.Context) error {
	start := time.Now()
	ix, fresh, err := openIndex(b.path, b.an, b.w)
	if err != nil {
		return err
	}
	seq, err := ix.seq()
	if err != nil {
		b.log.Warn().Err(err).Msg("search index has no readable position; rebuilding it")
		fresh = true
	}
	dbSeq, err := b.store.KBSeq(ctx)
	if err != nil {
		ix.close()
		return err
	}
	if !fresh && seq > dbSeq {
		// The index is ahead of the database: the database was replaced (a restore).
		b.log.Warn().Int64("index", seq).Int64("database", dbSeq).Msg("search index does not match the database; rebuilding it")
		ix.close()
		if err := os.RemoveAll(b.path); err != nil {
			return fmt.Errorf("kb: remove stale index: %w", err)
		}
		if ix, _, err = openIndex(b.path, b.an, b.w); err != nil {
			return err
		}
		fresh, seq = true, 0
	}
	if fresh {
		seq = 0
	}
	b.ix.Store(ix)
	b.indexed.Store(seq)
	if fields, err := ix.idx.Fields(); err == nil {
		for _, f := range fields {
			if fam, ok := strings.CutPrefix(f, fQuestions+"_"); ok {
				b.fams.Store(fam, true)
			}
		}
	}
	n, err := b.catchUp(ctx)
	if err != nil {
		return err
	}
	if fresh || n > 0 {
		b.log.Info().Bool("rebuilt", fresh).Int("articles", n).Dur("took", time.Since(start)).Str("path", b.path).
			Msg("search index is up to date")
	}
	return nil
}

// Close closes the index.
func (b *Base) Close() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if ix := b.ix.Swap(nil); ix != nil {
		return ix.close()
	}
	return nil
}

// HasIndex reports whether this process holds the search index.
func (b *Base) HasIndex() bool { return b.ix.Load() != nil }

// catchUpBatch is how many articles go into one index batch: big enough that a bulk
// import makes few segments to merge, small enough to bound memory (bleve #1304).
const catchUpBatch = 1000

// catchUp indexes every article changed since the index's position, in batches. It
// returns how many articles it indexed.
func (b *Base) catchUp(ctx context.Context) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	ix := b.ix.Load()
	if ix == nil {
		return 0, nil
	}
	n := 0
	for {
		changes, err := b.store.ArticleChanges(ctx, b.indexed.Load(), catchUpBatch)
		if err != nil {
			return n, err
		}
		if len(changes) == 0 {
			return n, nil
		}
		last := changes[len(changes)-1].Seq
		if err := ix.apply(changes, last); err != nil {
			return n, err
		}
		for i := range changes {
			b.fams.Store(family(changes[i].Lang), true)
		}
		b.indexed.Store(last)
		n += len(changes)
	}
}

// Run keeps the index in step with changes other processes make to the database (a
// `concierge kb import` while the server runs, other instances) until ctx ends.
func (b *Base) Run(ctx context.Context) error {
	t := time.NewTicker(b.Poll)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
		seq, err := b.store.KBSeq(ctx)
		if err != nil {
			if ctx.Err() == nil {
				b.log.Warn().Err(err).Msg("checking for knowledge-base changes failed; retrying")
			}
			continue
		}
		if seq == b.indexed.Load() || !b.HasIndex() {
			continue
		}
		changes, err := b.store.ArticleChanges(ctx, b.indexed.Load(), 1000)
		if err == nil {
			_, err = b.catchUp(ctx)
		}
		if err != nil {
			b.log.Warn().Err(err).Msg("indexing knowledge-base changes failed; retrying")
			continue
		}
		for i := range changes {
			b.publish(changes[i].ID, "sync", changes[i].Version)
		}
	}
}

// Reindex rebuilds the index from the database.
func (b *Base) Reindex(ctx context.Context) (int, error) {
	b.mu.Lock()
	old := b.ix.Swap(nil)
	var err error
	if old != nil {
		err = old.close()
	}
	if err == nil && b.path != "" {
		err = os.RemoveAll(b.path)
	}
	var ix *searchIndex
	if err == nil {
		ix, _, err = openIndex(b.path, b.an, b.w)
	}
	if err != nil {
		b.mu.Unlock()
		return 0, fmt.Errorf("kb: reindex: %w", err)
	}
	b.ix.Store(ix)
	b.indexed.Store(0)
	b.mu.Unlock()
	return b.catchUp(ctx)
}

// save writes changes, brings the index up to date and tells subscribers.
func (b *Base) save(ctx context.Context, changes []Change) ([]Article, error) {
	saved, err := b.store.SaveArticles(ctx, changes)
	if err != nil {
		return nil, err
	}
	if _, err := b.catchUp(ctx); err != nil {
		// The database has the change; the next catch-up (Run, or the next start)
		// indexes it.
		b.log.Error().Err(err).Msg("indexing a saved article failed; it will be retried")
	}
	for i := range saved {
		b.publish(saved[i].ID, changes[i].Action, saved[i].Version)
	}
	return saved, nil
}

// ArticleEvent is the data of an EventArticle.
type ArticleEvent struct {
	ID      string `json:"id"`
	Action  string `json:"action"`
	Version int    `json:"version"`
}

func (b *Base) publish(id, action string, version int) {
	if b.pub == nil {
		return
	}
	data, _ := json.Marshal(ArticleEvent{ID: id, Action: action, Version: version})
	b.pub.Publish(concierge.TopicKB, concierge.Event{Kind: concierge.EventArticle, Data: data, At: b.now().UTC()})
}

// Search finds articles for a question. Customers' searches (Drafts false) only see
// published articles. Scores are the raw relevance (higher is better, unbounded,
// comparable between queries only roughly); the bot calibrates them.
func (b *Base) Search(ctx context.Context, q Query) ([]Hit, error) {
	q.Text = strings.TrimSpace(q.Text)
	if q.Text == "" {
		return nil, nil
	}
	if utf8.RuneCountInString(q.Text) > 1000 {
		q.Text = string([]rune(q.Text)[:1000])
	}
	if q.Limit <= 0 {
		q.Limit = 10
	}
	q.Limit = min(q.Limit, 100)
	if q.Lang != "" && !langRe.MatchString(q.Lang) {
		return nil, concierge.Invalidf("language %q is not a language tag", q.Lang)
	}
	ix := b.ix.Load()
	if ix == nil {
		return nil, fmt.Errorf("kb: search: %w", ErrIndexLocked)
	}
	fams := searchFamilies(q, func(f string) bool { _, ok := b.fams.Load(f); return ok })
	return ix.search(q, fams)
}

// Get returns an article (draft or published); deleted articles are not found.
func (b *Base) Get(ctx context.Context, id string) (Article, error) {
	a, err := b.store.Article(ctx, id)
	if err != nil {
		return a, fmt.Errorf("kb: article %q: %w", id, err)
	}
	if a.Deleted() {
		return Article{}, fmt.Errorf("kb: article %q was deleted: %w", id, concierge.ErrNotFound)
	}
	return a, nil
}

// Published returns an article customers may read; drafts are not found.
func (b *Base) Published(ctx context.Context, id string) (Article, error) {
	a, err := b.Get(ctx, id)
	if err != nil {
		return a, err
	}
	if !a.Published() {
		return Article{}, fmt.Errorf("kb: article %q is not published: %w", id, concierge.ErrNotFound)
	}
	return a, nil
}

// List lists articles (f.Status StatusPublished for what customers see) and the total.
func (b *Base) List(ctx context.Context, f Filter) ([]Article, int, error) {
	if f.Limit <= 0 || f.Limit > 1000 {
		f.Limit = min(max(f.Limit, 100), 1000)
	}
	return b.store.Articles(ctx, f)
}

// Save creates or updates an article. baseVersion guards against overwriting someone
// else's edit: 0 creates (ErrConflict if the id is taken), n updates version n
// (ErrConflict if it moved on), AnyVersion writes whatever is there. A save that changes
// nothing writes no version.
func (b *Base) Save(ctx context.Context, a Article, author string, baseVersion int) (Article, error) {
	a.Normalize()
	if err := a.Validate(); err != nil {
		return Article{}, err
	}
	cur, err := b.store.Article(ctx, a.ID)
	exists := err == nil && !cur.Deleted()
	if err != nil && !errors.Is(err, concierge.ErrNotFound) {
		return Article{}, err
	}
	action := "edit"
	switch {
	case !exists && baseVersion > 0:
		return Article{}, fmt.Errorf("kb: article %q: %w", a.ID, concierge.ErrNotFound)
	case !exists:
		action = "create"
	case baseVersion == 0:
		return Article{}, fmt.Errorf("kb: article %q already exists: %w", a.ID, concierge.ErrConflict)
	case baseVersion > 0 && baseVersion != cur.Version:
		return Article{}, fmt.Errorf("kb: article %q is at version %d, not %d (someone saved it meanwhile): %w",
			a.ID, cur.Version, baseVersion, concierge.ErrConflict)
	case a.SameContent(&cur):
		return cur, nil
	case sameExceptStatus(&a, &cur):
		action = map[Status]string{StatusPublished: "publish", StatusDraft: "unpublish"}[a.Status]
	}
	a.DeletedAt = nil
	saved, err := b.save(ctx, []Change{{Article: a, Action: action, Author: author, BaseVersion: baseVersion}})
	if err != nil {
		return Article{}, fmt.Errorf("kb: save %q: %w", a.ID, err)
	}
	return saved[0], nil
}

func sameExceptStatus(a, b *Article) bool {
	c := *a
	c.Status = b.Status
	return c.SameContent(b)
}

// SetStatus publishes or unpublishes an article.
func (b *Base) SetStatus(ctx context.Context, id string, st Status, author string) (Article, error) {
	if st != StatusDraft && st != StatusPublished {
		return Article{}, concierge.Invalidf("status %q: want draft or published", st)
	}
	cur, err := b.Get(ctx, id)
	if err != nil {
		return Article{}, err
	}
	if cur.Status == st {
		return cur, nil
	}
	cur.Status = st
	return b.Save(ctx, cur, author, cur.Version)
}

// Delete deletes an article softly: customers and the bot no longer see it; its versions
// stay and Restore brings it back.
func (b *Base) Delete(ctx context.Context, id, author string) error {
	cur, err := b.Get(ctx, id)
	if err != nil {
		return err
	}
	now := b.now()
	cur.DeletedAt = &now
	if _, err := b.save(ctx, []Change{{Article: cur, Action: "delete", Author: author, BaseVersion: cur.Version}}); err != nil {
		return fmt.Errorf("kb: delete %q: %w", id, err)
	}
	return nil
}

// Versions lists an article's versions, newest first (bodies left out; Version has them).
func (b *Base) Versions(ctx context.Context, id string) ([]Version, error) {
	vs, err := b.store.ArticleVersions(ctx, id)
	if err != nil {
		return nil, fmt.Errorf("kb: versions of %q: %w", id, err)
	}
	for i := range vs {
		vs[i].Article.Body = ""
	}
	return vs, nil
}

// Version returns one saved version of an article.
func (b *Base) Version(ctx context.Context, id string, version int) (Version, error) {
	v, err := b.store.ArticleVersion(ctx, id, version)
	if err != nil {
		return v, fmt.Errorf("kb: version %d of %q: %w", version, id, err)
	}
	return v, nil
}

// Restore makes an old version the current one (as a new version), undeleting the
// article if needed.
func (b *Base) Restore(ctx context.Context, id string, version int, author string) (Article, error) {
	v, err := b.Version(ctx, id, version)
	if err != nil {
		return Article{}, err
	}
	if v.Article.Deleted() {
		return Article{}, concierge.Invalidf("version %d is the deletion of %q; restore an earlier one", version, id)
	}
	cur, err := b.store.Article(ctx, id)
	if err != nil {
		return Article{}, fmt.Errorf("kb: restore %q: %w", id, err)
	}
	a := v.Article
	a.DeletedAt = nil
	a.Normalize()
	saved, err := b.save(ctx, []Change{{Article: a, Action: "restore", Author: author, BaseVersion: cur.Version}})
	if err != nil {
		return Article{}, fmt.Errorf("kb: restore %q: %w", id, err)
	}
	return saved[0], nil
}

// View counts a customer reading the article.
func (b *Base) View(ctx context.Context, articleID string) error {
	if err := b.store.CountArticleView(ctx, articleID); err != nil {
		return fmt.Errorf("kb: view of %q: %w", articleID, err)
	}
	return nil
}

// Feedback counts a customer's answer to "Did this help?".
func (b *Base) Feedback(ctx context.Context, articleID string, helpful bool) error {
	if err := b.store.CountArticleVote(ctx, articleID, helpful); err != nil {
		return fmt.Errorf("kb: feedback on %q: %w", articleID, err)
	}
	return nil
}

// Count is the number of articles ever stored (deleted ones included).
func (b *Base) Count(ctx context.Context) (int, error) { return b.store.ArticleCount(ctx) }
