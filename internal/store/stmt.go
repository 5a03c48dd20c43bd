package store

import (
	"context"
	"database/sql"
	"sync"
)

// SQLite spends more time compiling a statement than running a small one, and
// database/sql does not cache prepared statements, so the store keeps its own cache: one
// prepared statement per query text for the writer and one for the readers.
type stmtCache struct {
	db    *sql.DB
	mu    sync.RWMutex
	stmts map[string]*sql.Stmt
	// deferred: the writer's only connection is held by the transaction that misses the
	// cache, so preparing then would deadlock; misses are prepared after the commit.
	deferred bool
	pending  map[string]bool
}

// maxCached bounds the cache; queries past it (built at run time) are prepared each time.
const maxCached = 512

func newStmtCache(db *sql.DB, deferred bool) *stmtCache {
	return &stmtCache{db: db, stmts: map[string]*sql.Stmt{}, deferred: deferred, pending: map[string]bool{}}
}

func (c *stmtCache) get(ctx context.Context, q string) (*sql.Stmt, error) {
	c.mu.RLock()
	st := c.stmts[q]
	c.mu.RUnlock()
	if st != nil {
		return st, nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if st = c.stmts[q]; st != nil {
		return st, nil
	}
	if len(c.stmts)+len(c.pending) >= maxCached {
		return nil, nil
	}
	if c.deferred {
		c.pending[q] = true
		return nil, nil
	}
	st, err := c.db.PrepareContext(ctx, q)
	if err != nil {
		return nil, err
	}
	c.stmts[q] = st
	return st, nil
}

// preparePending prepares the queries that missed the cache while the connection was busy.
func (c *stmtCache) preparePending(ctx context.Context) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for q := range c.pending {
		delete(c.pending, q)
		if st, err := c.db.PrepareContext(ctx, q); err == nil {
			c.stmts[q] = st
		}
	}
}

func (c *stmtCache) close() {
	c.mu.Lock()
	defer c.mu.Unlock()
	for q, st := range c.stmts {
		st.Close()
		delete(c.stmts, q)
	}
}

// Tx is a write transaction handed to Write functions. Its methods use the statement
// cache; otherwise it is a *sql.Tx.
type Tx struct {
	*sql.Tx
	cache *stmtCache
}

// Statements of a batch ignore their caller's cancellation: once a write is in a batch it
// runs to the end (the caller waits for the commit anyway), and an uncancellable context
// spares database/sql a watcher goroutine per statement.

// ExecContext runs a statement inside the transaction.
func (t *Tx) ExecContext(ctx context.Context, q string, args ...any) (sql.Result, error) {
	ctx = context.WithoutCancel(ctx)
	st, err := t.cache.get(ctx, q)
	if err != nil || st == nil {
		return t.Tx.ExecContext(ctx, q, args...)
	}
	return t.Tx.StmtContext(ctx, st).ExecContext(ctx, args...)
}

// QueryRowContext runs a one-row query inside the transaction.
func (t *Tx) QueryRowContext(ctx context.Context, q string, args ...any) *sql.Row {
	ctx = context.WithoutCancel(ctx)
	st, err := t.cache.get(ctx, q)
	if err != nil || st == nil {
		return t.Tx.QueryRowContext(ctx, q, args...)
	}
	return t.Tx.StmtContext(ctx, st).QueryRowContext(ctx, args...)
}

// QueryContext runs a query inside the transaction.
func (t *Tx) QueryContext(ctx context.Context, q string, args ...any) (*sql.Rows, error) {
	ctx = context.WithoutCancel(ctx)
	st, err := t.cache.get(ctx, q)
	if err != nil || st == nil {
		return t.Tx.QueryContext(ctx, q, args...)
	}
	return t.Tx.StmtContext(ctx, st).QueryContext(ctx, args...)
}

// readDB runs reads on the reader pool through the statement cache.
type readDB struct {
	*sql.DB
	cache *stmtCache
}

func (r readDB) QueryRowContext(ctx context.Context, q string, args ...any) *sql.Row {
	st, err := r.cache.get(ctx, q)
	if err != nil || st == nil {
		return r.DB.QueryRowContext(ctx, q, args...)
	}
	return st.QueryRowContext(ctx, args...)
}

func (r readDB) QueryContext(ctx context.Context, q string, args ...any) (*sql.Rows, error) {
	st, err := r.cache.get(ctx, q)
	if err != nil || st == nil {
		return r.DB.QueryContext(ctx, q, args...)
	}
	return st.QueryContext(ctx, args...)
}
