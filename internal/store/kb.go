package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/conciergehq/concierge"
	"github.com/conciergehq/concierge/kb"
)

// The knowledge base's tables (migration 0200). The store implements kb.Store.

var _ kb.Store = (*Store)(nil)

const articleCols = `id, title, body, lang, tags, team, questions, details, escalate, status, version, author,
	created_at, updated_at, deleted_at, seq, views, helpful, not_helpful`

func scanArticle(row scanner) (kb.Article, error) {
	var a kb.Article
	var tags, questions, details string
	var created, updated int64
	var deleted sql.NullInt64
	err := row.Scan(&a.ID, &a.Title, &a.Body, &a.Lang, &tags, &a.Team, &questions, &details, &a.Escalate, &a.Status,
		&a.Version, &a.Author, &created, &updated, &deleted, &a.Seq, &a.Stats.Views, &a.Stats.Helpful, &a.Stats.NotHelpful)
	if errors.Is(err, sql.ErrNoRows) {
		return a, concierge.ErrNotFound
	}
	if err != nil {
		return a, err
	}
	decJSON(tags, &a.Tags)
	decJSON(questions, &a.Questions)
	decJSON(details, &a.Details)
	a.CreatedAt, a.UpdatedAt, a.DeletedAt = fromMS(created), fromMS(updated), fromNullMS(deleted)
	return a, nil
}

// listJSON encodes a list column; an empty list is "[]".
func listJSON[T any](v []T) string {
	if len(v) == 0 {
		return "[]"
	}
	b, _ := json.Marshal(v)
	return string(b)
}

// versionDoc is what kb_versions keeps of an article: everything a file holds.
type versionDoc struct {
	Title     string      `json:"title"`
	Body      string      `json:"body"`
	Lang      string      `json:"lang"`
	Tags      []string    `json:"tags,omitempty"`
	Team      string      `json:"team,omitempty"`
	Questions []string    `json:"questions,omitempty"`
	Details   []kb.Detail `json:"details,omitempty"`
	Escalate  bool        `json:"escalate,omitempty"`
	Status    kb.Status   `json:"status"`
	Deleted   bool        `json:"deleted,omitempty"`
}

// SaveArticles implements kb.Store.
func (s *Store) SaveArticles(ctx context.Context, changes []kb.Change) ([]kb.Article, error) {
	if len(changes) == 0 {
		return nil, nil
	}
	now := s.now()
	var out []kb.Article
	err := s.Write(ctx, func(ctx context.Context, tx *Tx) error {
		out = make([]kb.Article, 0, len(changes))
		var seq int64
		if err := tx.QueryRowContext(ctx, `SELECT seq FROM kb_state WHERE id = 1`).Scan(&seq); err != nil {
			return fmt.Errorf("store: kb seq: %w", err)
		}
		for _, c := range changes {
			a := c.Article
			cur, err := scanArticle(tx.QueryRowContext(ctx, `SELECT `+articleCols+` FROM kb_articles WHERE id = ?`, a.ID))
			exists := err == nil
			if err != nil && !errors.Is(err, concierge.ErrNotFound) {
				return fmt.Errorf("store: read article %s: %w", a.ID, err)
			}
			switch {
			case c.BaseVersion == kb.AnyVersion:
			case c.BaseVersion == 0 && exists && !cur.Deleted():
				return fmt.Errorf("store: article %s already exists: %w", a.ID, concierge.ErrConflict)
			case c.BaseVersion > 0 && (!exists || cur.Version != c.BaseVersion):
				if !exists {
					return fmt.Errorf("store: article %s: %w", a.ID, concierge.ErrNotFound)
				}
				return fmt.Errorf("store: article %s is at version %d, not %d: %w", a.ID, cur.Version, c.BaseVersion, concierge.ErrConflict)
			}
			seq++
			a.Seq = seq
			a.Author = c.Author
			a.UpdatedAt = now
			a.Stats = cur.Stats
			if exists {
				a.Version = cur.Version + 1
				a.CreatedAt = cur.CreatedAt
			} else {
				a.Version = 1
				a.CreatedAt = now
			}
			var deleted any
			if a.DeletedAt != nil {
				t := now
				if cur.DeletedAt != nil {
					t = *cur.DeletedAt
				}
				a.DeletedAt = &t
				deleted = ms(t)
			}
			_, err = tx.ExecContext(ctx, `INSERT INTO kb_articles (`+articleCols+`)
				VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 0, 0, 0)
				ON CONFLICT (id) DO UPDATE SET title = excluded.title, body = excluded.body, lang = excluded.lang,
					tags = excluded.tags, team = excluded.team, questions = excluded.questions,
					details = excluded.details, escalate = excluded.escalate, status = excluded.status,
					version = excluded.version, author = excluded.author, updated_at = excluded.updated_at,
					deleted_at = excluded.deleted_at, seq = excluded.seq`,
				a.ID, a.Title, a.Body, a.Lang, listJSON(a.Tags), a.Team, listJSON(a.Questions), listJSON(a.Details),
				a.Escalate, a.Status, a.Version, a.Author, ms(a.CreatedAt), ms(a.UpdatedAt), deleted, a.Seq)
			if err != nil {
				return fmt.Errorf("store: save article %s: %w", a.ID, err)
			}
			doc, _ := json.Marshal(versionDoc{Title: a.Title, Body: a.Body, Lang: a.Lang, Tags: a.Tags, Team: a.Team,
				Questions: a.Questions, Details: a.Details, Escalate: a.Escalate, Status: a.Status, Deleted: a.DeletedAt != nil})
			if _, err := tx.ExecContext(ctx, `INSERT INTO kb_versions (article_id, version, action, doc, author, created_at)
				VALUES (?, ?, ?, ?, ?, ?)`, a.ID, a.Version, c.Action, string(doc), c.Author, ms(now)); err != nil {
				return fmt.Errorf("store: save version %d of %s: %w", a.Version, a.ID, err)
			}
			out = append(out, a)
		}
		if _, err := tx.ExecContext(ctx, `UPDATE kb_state SET seq = ? WHERE id = 1`, seq); err != nil {
			return fmt.Errorf("store: kb seq: %w", err)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// Article implements kb.Store.
func (s *Store) Article(ctx context.Context, id string) (kb.Article, error) {
	a, err := scanArticle(s.r.QueryRowContext(ctx, `SELECT `+articleCols+` FROM kb_articles WHERE id = ?`, id))
	if err != nil {
		return a, fmt.Errorf("store: article %q: %w", id, err)
	}
	return a, nil
}

// ArticlesByID implements kb.Store.
func (s *Store) ArticlesByID(ctx context.Context, ids []string) (map[string]kb.Article, error) {
	out := make(map[string]kb.Article, len(ids))
	// In chunks: SQLite limits the number of parameters of one statement.
	for len(ids) > 0 {
		n := min(len(ids), 500)
		chunk := ids[:n]
		ids = ids[n:]
		args := make([]any, len(chunk))
		for i, id := range chunk {
			args[i] = id
		}
		rows, err := s.r.DB.QueryContext(ctx, `SELECT `+articleCols+` FROM kb_articles WHERE id IN (?`+
			strings.Repeat(", ?", len(chunk)-1)+`)`, args...)
		if err != nil {
			return nil, fmt.Errorf("store: articles by id: %w", err)
		}
		for rows.Next() {
			a, err := scanArticle(rows)
			if err != nil {
				rows.Close()
				return nil, fmt.Errorf("store: articles by id: %w", err)
			}
			out[a.ID] = a
		}
		err = rows.Err()
		rows.Close()
		if err != nil {
			return nil, fmt.Errorf("store: articles by id: %w", err)
		}
	}
	return out, nil
}

// Articles implements kb.Store.
func (s *Store) Articles(ctx context.Context, f kb.Filter) ([]kb.Article, int, error) {
	where := []string{"deleted_at IS NULL"}
	if f.Deleted {
		where[0] = "deleted_at IS NOT NULL"
	}
	var args []any
	if f.Lang != "" {
		where = append(where, "(lang = ? OR lang LIKE ?)")
		args = append(args, f.Lang, f.Lang+"-%")
	}
	if f.Tag != "" {
		// tags is a JSON list of strings; match the quoted element.
		tag, _ := json.Marshal(f.Tag)
		where = append(where, `tags LIKE ? ESCAPE '\'`)
		args = append(args, "%"+likeEscape(string(tag))+"%")
	}
	if f.Team != "" {
		where = append(where, "team = ?")
		args = append(args, f.Team)
	}
	if f.Status != "" {
		where = append(where, "status = ?")
		args = append(args, f.Status)
	}
	cond := strings.Join(where, " AND ")
	var total int
	if err := s.r.DB.QueryRowContext(ctx, `SELECT COUNT(*) FROM kb_articles WHERE `+cond, args...).Scan(&total); err != nil {
		return nil, 0, fmt.Errorf("store: count articles: %w", err)
	}
	limit := f.Limit
	if limit <= 0 {
		limit = 100
	}
	rows, err := s.r.DB.QueryContext(ctx, `SELECT `+articleCols+` FROM kb_articles WHERE `+cond+
		` ORDER BY updated_at DESC, id LIMIT ? OFFSET ?`, append(args, limit, max(f.Offset, 0))...)
	if err != nil {
		return nil, 0, fmt.Errorf("store: list articles: %w", err)
	}
	defer rows.Close()
	var out []kb.Article
	for rows.Next() {
		a, err := scanArticle(rows)
		if err != nil {
			return nil, 0, fmt.Errorf("store: list articles: %w", err)
		}
		out = append(out, a)
	}
	if err := rows.Err(); err != nil {
		return nil, 0, fmt.Errorf("store: list articles: %w", err)
	}
	return out, total, nil
}

// likeEscape makes LIKE's wildcards in s literal (used with ESCAPE '\').
func likeEscape(s string) string {
	return strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`).Replace(s)
}

// ArticleChanges implements kb.Store.
func (s *Store) ArticleChanges(ctx context.Context, afterSeq int64, limit int) ([]kb.Article, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT `+articleCols+` FROM kb_articles WHERE seq > ? ORDER BY seq LIMIT ?`,
		afterSeq, limit)
	if err != nil {
		return nil, fmt.Errorf("store: article changes: %w", err)
	}
	defer rows.Close()
	var out []kb.Article
	for rows.Next() {
		a, err := scanArticle(rows)
		if err != nil {
			return nil, fmt.Errorf("store: article changes: %w", err)
		}
		out = append(out, a)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: article changes: %w", err)
	}
	return out, nil
}

// KBSeq implements kb.Store.
func (s *Store) KBSeq(ctx context.Context) (int64, error) {
	var seq int64
	if err := s.r.QueryRowContext(ctx, `SELECT seq FROM kb_state WHERE id = 1`).Scan(&seq); err != nil {
		return 0, fmt.Errorf("store: kb seq: %w", err)
	}
	return seq, nil
}

// ArticleCount implements kb.Store.
func (s *Store) ArticleCount(ctx context.Context) (int, error) {
	var n int
	if err := s.r.QueryRowContext(ctx, `SELECT COUNT(*) FROM kb_articles`).Scan(&n); err != nil {
		return 0, fmt.Errorf("store: count articles: %w", err)
	}
	return n, nil
}

func scanVersion(row scanner, id string) (kb.Version, error) {
	var v kb.Version
	var doc string
	var at int64
	if err := row.Scan(&v.Version, &v.Action, &doc, &v.Author, &at); err != nil {
		if errors.Is(err, sql.ErrNoRows) {
			return v, concierge.ErrNotFound
		}
		return v, err
	}
	var d versionDoc
	if err := json.Unmarshal([]byte(doc), &d); err != nil {
		return v, fmt.Errorf("version %d: %w", v.Version, err)
	}
	v.At = fromMS(at)
	v.Article = kb.Article{ID: id, Title: d.Title, Body: d.Body, Lang: d.Lang, Tags: d.Tags, Team: d.Team,
		Questions: d.Questions, Details: d.Details, Escalate: d.Escalate, Status: d.Status, Version: v.Version,
		Author: v.Author, UpdatedAt: v.At}
	if d.Deleted {
		v.Article.DeletedAt = &v.At
	}
	return v, nil
}

// ArticleVersions implements kb.Store.
func (s *Store) ArticleVersions(ctx context.Context, id string) ([]kb.Version, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT version, action, doc, author, created_at FROM kb_versions
		WHERE article_id = ? ORDER BY version DESC`, id)
	if err != nil {
		return nil, fmt.Errorf("store: versions of %q: %w", id, err)
	}
	defer rows.Close()
	var out []kb.Version
	for rows.Next() {
		v, err := scanVersion(rows, id)
		if err != nil {
			return nil, fmt.Errorf("store: versions of %q: %w", id, err)
		}
		out = append(out, v)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: versions of %q: %w", id, err)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("store: versions of %q: %w", id, concierge.ErrNotFound)
	}
	return out, nil
}

// ArticleVersion implements kb.Store.
func (s *Store) ArticleVersion(ctx context.Context, id string, version int) (kb.Version, error) {
	v, err := scanVersion(s.r.QueryRowContext(ctx, `SELECT version, action, doc, author, created_at FROM kb_versions
		WHERE article_id = ? AND version = ?`, id, version), id)
	if err != nil {
		return v, fmt.Errorf("store: version %d of %q: %w", version, id, err)
	}
	return v, nil
}

// CountArticleView implements kb.Store.
func (s *Store) CountArticleView(ctx context.Context, id string) error {
	return s.articleCounter(ctx, id, `UPDATE kb_articles SET views = views + 1 WHERE id = ? AND deleted_at IS NULL`)
}

// CountArticleVote implements kb.Store.
func (s *Store) CountArticleVote(ctx context.Context, id string, helpful bool) error {
	q := `UPDATE kb_articles SET not_helpful = not_helpful + 1 WHERE id = ? AND deleted_at IS NULL`
	if helpful {
		q = `UPDATE kb_articles SET helpful = helpful + 1 WHERE id = ? AND deleted_at IS NULL`
	}
	return s.articleCounter(ctx, id, q)
}

func (s *Store) articleCounter(ctx context.Context, id, q string) error {
	return s.Write(ctx, func(ctx context.Context, tx *Tx) error {
		res, err := tx.ExecContext(ctx, q, id)
		if err != nil {
			return fmt.Errorf("store: count for article %q: %w", id, err)
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return fmt.Errorf("store: article %q: %w", id, concierge.ErrNotFound)
		}
		return nil
	})
}

// GapQuestions implements kb.Store: the bot's decisions marked as gaps.
func (s *Store) GapQuestions(ctx context.Context, since time.Time, limit int) ([]kb.GapQuestion, error) {
	if limit <= 0 {
		limit = 5000
	}
	rows, err := s.r.QueryContext(ctx, `SELECT query, language, score, article_id, created_at FROM decisions
		WHERE gap = 1 AND created_at >= ? AND query <> '' ORDER BY created_at DESC LIMIT ?`, ms(since), limit)
	if err != nil {
		return nil, fmt.Errorf("store: gap questions: %w", err)
	}
	defer rows.Close()
	var out []kb.GapQuestion
	for rows.Next() {
		var g kb.GapQuestion
		var at int64
		if err := rows.Scan(&g.Query, &g.Language, &g.Score, &g.Article, &at); err != nil {
			return nil, fmt.Errorf("store: gap questions: %w", err)
		}
		g.At = fromMS(at)
		out = append(out, g)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: gap questions: %w", err)
	}
	return out, nil
}
