// Package store keeps everything the gateway must not lose in one SQL database: contacts,
// conversations, messages, the outbox, and (in their own files) the knowledge base and the
// handoff queue.
//
// All writes go through one committer goroutine that groups concurrent writes into a
// single transaction (group commit): each write runs inside its own savepoint, so one
// failing write does not undo its neighbours, and a batch costs one disk sync instead of
// one per message. Reads use a separate pool and never wait for writes (WAL).
package store

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	_ "github.com/mattn/go-sqlite3" // registers the "sqlite3" driver
	"github.com/rs/zerolog"
)

//go:embed migrations/*.sql
var migrationFiles embed.FS

// ErrClosed is returned by writes submitted after Close.
var ErrClosed = errors.New("store: closed")

// Options tune the store; the zero value is sensible.
type Options struct {
	// MaxBatch caps how many writes share one transaction (default 512).
	MaxBatch int
	// Synchronous is SQLite's synchronous pragma: FULL (default) syncs every commit, which
	// group commit makes affordable; NORMAL trades the last commits on power loss for speed.
	Synchronous string
	// Observe, when set, is told how long each group commit took and how many writes it held.
	Observe func(d time.Duration, writes int)
	// Now replaces the clock (tests).
	Now func() time.Time
}

// Store is the database. It is safe for concurrent use.
type Store struct {
	w      *sql.DB // one writer connection
	r      readDB  // a pool of readers
	wcache *stmtCache
	log    zerolog.Logger
	opts   Options
	now    func() time.Time

	writes   chan *writeReq
	quit     chan struct{}
	stopped  chan struct{}
	closeMu  sync.RWMutex
	isClosed bool
}

type writeReq struct {
	ctx  context.Context
	fn   func(ctx context.Context, tx *Tx) error
	done chan error
}

// Open opens (creating if needed) the SQLite database at path, applies migrations and
// starts the committer.
func Open(ctx context.Context, path string, log zerolog.Logger, opts Options) (*Store, error) {
	if opts.MaxBatch <= 0 {
		opts.MaxBatch = 512
	}
	if opts.Synchronous == "" {
		opts.Synchronous = "FULL"
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o750); err != nil {
		return nil, fmt.Errorf("store: create directory for %s: %w", path, err)
	}
	q := url.Values{}
	q.Set("_journal_mode", "WAL")
	q.Set("_busy_timeout", "10000")
	q.Set("_foreign_keys", "on")
	q.Set("_synchronous", opts.Synchronous)
	q.Set("_txlock", "immediate")
	w, err := sql.Open("sqlite3", "file:"+path+"?"+q.Encode())
	if err != nil {
		return nil, fmt.Errorf("store: open %s: %w", path, err)
	}
	w.SetMaxOpenConns(1) // SQLite has one writer; a second connection would only wait on locks
	w.SetMaxIdleConns(1)
	w.SetConnMaxLifetime(0)
	if err := w.PingContext(ctx); err != nil {
		w.Close()
		return nil, fmt.Errorf("store: open %s: %w", path, err)
	}
	s := &Store{w: w, log: log.With().Str("component", "store").Logger(), opts: opts, now: opts.Now,
		writes: make(chan *writeReq, 4096), quit: make(chan struct{}), stopped: make(chan struct{})}
	if err := s.migrate(ctx); err != nil {
		w.Close()
		return nil, err
	}
	rq := url.Values{}
	rq.Set("_busy_timeout", "10000")
	rq.Set("_foreign_keys", "on")
	rq.Set("mode", "ro")
	r, err := sql.Open("sqlite3", "file:"+path+"?"+rq.Encode())
	if err != nil {
		w.Close()
		return nil, fmt.Errorf("store: open readers for %s: %w", path, err)
	}
	r.SetMaxOpenConns(8)
	r.SetMaxIdleConns(8)
	s.r = readDB{DB: r, cache: newStmtCache(r, false)}
	s.wcache = newStmtCache(w, true)
	go s.commitLoop()
	return s, nil
}

// Close stops taking writes, commits what was already submitted and closes the database.
func (s *Store) Close() error {
	s.closeMu.Lock()
	if s.isClosed {
		s.closeMu.Unlock()
		return nil
	}
	s.isClosed = true
	close(s.quit)
	s.closeMu.Unlock()
	<-s.stopped
	// Checkpoint so the main file is complete and the WAL small for the next start.
	if _, err := s.w.Exec(`PRAGMA wal_checkpoint(TRUNCATE)`); err != nil {
		s.log.Warn().Err(err).Msg("checkpoint on close failed")
	}
	s.r.cache.close()
	s.wcache.close()
	return errors.Join(s.r.Close(), s.w.Close())
}

// Ping checks that the database answers (readiness).
func (s *Store) Ping(ctx context.Context) error {
	var one int
	if err := s.r.QueryRowContext(ctx, `SELECT 1`).Scan(&one); err != nil {
		return fmt.Errorf("store: ping: %w", err)
	}
	return nil
}

// Now is the store's clock.
func (s *Store) Now() time.Time { return s.now() }

// Write runs fn in the next group-commit transaction and returns once that transaction
// committed (fn's changes are durable) or failed. fn must not block on anything but the
// database: the whole batch waits for it. fn may run more than once (when a neighbour in
// its batch fails, the batch is redone), so it must reset anything it sets outside the
// transaction before using it.
func (s *Store) Write(ctx context.Context, fn func(ctx context.Context, tx *Tx) error) error {
	req := &writeReq{ctx: ctx, fn: fn, done: make(chan error, 1)}
	s.closeMu.RLock()
	if s.isClosed {
		s.closeMu.RUnlock()
		return ErrClosed
	}
	select {
	case s.writes <- req:
	case <-ctx.Done():
		s.closeMu.RUnlock()
		return ctx.Err()
	}
	s.closeMu.RUnlock()
	// Wait for the outcome even if ctx ends now: the write may already be committing,
	// and telling the caller it failed when it did not would be worse than a short wait.
	return <-req.done
}

func (s *Store) commitLoop() {
	defer close(s.stopped)
	batch := make([]*writeReq, 0, s.opts.MaxBatch)
	for {
		var first *writeReq
		select {
		case first = <-s.writes:
		case <-s.quit:
			// Drain whatever was submitted before Close.
			for {
				select {
				case req := <-s.writes:
					s.commit([]*writeReq{req})
				default:
					return
				}
			}
		}
		batch = append(batch[:0], first)
	fill:
		for len(batch) < s.opts.MaxBatch {
			select {
			case req := <-s.writes:
				batch = append(batch, req)
			default:
				break fill
			}
		}
		s.commit(batch)
	}
}

func (s *Store) commit(batch []*writeReq) {
	start := time.Now()
	errs := make([]error, len(batch))
	// Optimistically run the batch without savepoints (they cost two statements per
	// write). If a write fails, the batch is rolled back and run again with a savepoint
	// around each write, so only the failing one is undone.
	failed, err := s.runBatch(batch, errs, false)
	if err == nil && failed && len(batch) > 1 {
		clear(errs)
		_, err = s.runBatch(batch, errs, true)
	}
	for i, req := range batch {
		if err != nil {
			req.done <- err
		} else {
			req.done <- errs[i]
		}
	}
	if s.opts.Observe != nil {
		s.opts.Observe(time.Since(start), len(batch))
	}
}

// runBatch runs the writes in one transaction. Without savepoints it stops at the first
// failing write, rolls back and reports failed; with them it undoes only failing writes.
// err is a failure of the transaction itself.
func (s *Store) runBatch(batch []*writeReq, errs []error, savepoints bool) (failed bool, err error) {
	ctx := context.Background()
	stx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return false, fmt.Errorf("store: begin: %w", err)
	}
	tx := &Tx{Tx: stx, cache: s.wcache}
	defer func() {
		if p := recover(); p != nil {
			tx.Rollback()
			failed, err = false, fmt.Errorf("store: write panicked: %v", p)
		}
	}()
	exec := func(q string) error {
		_, err := tx.ExecContext(ctx, q)
		return err
	}
	for i, req := range batch {
		if !savepoints {
			if errs[i] = req.fn(req.ctx, tx); errs[i] != nil {
				tx.Rollback()
				return true, nil
			}
			continue
		}
		if err := exec(`SAVEPOINT w`); err != nil {
			tx.Rollback()
			return false, fmt.Errorf("store: savepoint: %w", err)
		}
		if errs[i] = req.fn(req.ctx, tx); errs[i] != nil {
			if err := exec(`ROLLBACK TO w`); err != nil {
				tx.Rollback()
				return false, fmt.Errorf("store: rollback to savepoint: %w", err)
			}
		}
		if err := exec(`RELEASE w`); err != nil {
			tx.Rollback()
			return false, fmt.Errorf("store: release savepoint: %w", err)
		}
	}
	if err := tx.Commit(); err != nil {
		return false, fmt.Errorf("store: commit: %w", err)
	}
	s.wcache.preparePending(ctx)
	return false, nil
}

// migrate applies, in name order, every embedded migration not yet recorded, each in its
// own transaction together with its schema_migrations row.
func (s *Store) migrate(ctx context.Context) error {
	if _, err := s.w.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
		version TEXT PRIMARY KEY, applied_at INTEGER NOT NULL)`); err != nil {
		return fmt.Errorf("store: migrate: %w", err)
	}
	names, err := fs.Glob(migrationFiles, "migrations/*.sql")
	if err != nil {
		return fmt.Errorf("store: migrate: %w", err)
	}
	sort.Strings(names)
	applied := map[string]bool{}
	rows, err := s.w.QueryContext(ctx, `SELECT version FROM schema_migrations`)
	if err != nil {
		return fmt.Errorf("store: migrate: %w", err)
	}
	for rows.Next() {
		var v string
		if err := rows.Scan(&v); err != nil {
			rows.Close()
			return fmt.Errorf("store: migrate: %w", err)
		}
		applied[v] = true
	}
	rows.Close()
	for _, name := range names {
		version := strings.TrimSuffix(filepath.Base(name), ".sql")
		if applied[version] {
			continue
		}
		body, err := migrationFiles.ReadFile(name)
		if err != nil {
			return fmt.Errorf("store: migrate %s: %w", version, err)
		}
		tx, err := s.w.BeginTx(ctx, nil)
		if err != nil {
			return fmt.Errorf("store: migrate %s: %w", version, err)
		}
		if _, err := tx.ExecContext(ctx, string(body)); err != nil {
			tx.Rollback()
			return fmt.Errorf("store: migrate %s: %w", version, err)
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO schema_migrations (version, applied_at) VALUES (?, ?)`,
			version, ms(s.now())); err != nil {
			tx.Rollback()
			return fmt.Errorf("store: migrate %s: %w", version, err)
		}
		if err := tx.Commit(); err != nil {
			return fmt.Errorf("store: migrate %s: %w", version, err)
		}
		s.log.Info().Str("version", version).Msg("applied migration")
	}
	return nil
}

// SchemaVersion is the newest applied migration.
func (s *Store) SchemaVersion(ctx context.Context) (string, error) {
	var v string
	err := s.r.QueryRowContext(ctx, `SELECT COALESCE(MAX(version), '') FROM schema_migrations`).Scan(&v)
	if err != nil {
		return "", fmt.Errorf("store: schema version: %w", err)
	}
	return v, nil
}

func ms(t time.Time) int64 { return t.UnixMilli() }

func fromMS(v int64) time.Time { return time.UnixMilli(v).UTC() }

func fromNullMS(v sql.NullInt64) *time.Time {
	if !v.Valid {
		return nil
	}
	t := fromMS(v.Int64)
	return &t
}

// Backup writes a consistent copy of the database to path (which must not exist) while
// the server keeps running, using SQLite's VACUUM INTO.
func (s *Store) Backup(ctx context.Context, path string) error {
	if _, err := os.Stat(path); err == nil {
		return fmt.Errorf("store: backup: %s already exists", path)
	}
	if _, err := s.r.DB.ExecContext(ctx, `VACUUM INTO ?`, path); err != nil {
		return fmt.Errorf("store: backup to %s: %w", path, err)
	}
	return nil
}
