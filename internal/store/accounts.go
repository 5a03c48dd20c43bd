package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/conciergehq/concierge"
	"github.com/conciergehq/concierge/internal/auth"
)

const accountCols = `id, email, name, password_hash, roles, teams, max_chats, disabled, must_change_password,
	created_at, updated_at, last_login_at`

func scanAccount(row scanner) (auth.Account, error) {
	var a auth.Account
	var roles, teams string
	var created, updated int64
	var last sql.NullInt64
	err := row.Scan(&a.ID, &a.Email, &a.Name, &a.PasswordHash, &roles, &teams, &a.MaxChats, &a.Disabled,
		&a.MustChangePassword, &created, &updated, &last)
	if errors.Is(err, sql.ErrNoRows) {
		return a, concierge.ErrNotFound
	}
	if err != nil {
		return a, err
	}
	decJSON(roles, &a.Roles)
	decJSON(teams, &a.Teams)
	a.CreatedAt, a.UpdatedAt, a.LastLoginAt = fromMS(created), fromMS(updated), fromNullMS(last)
	return a, nil
}

func encList(v []string) string {
	if len(v) == 0 {
		return "[]"
	}
	return encJSON(v)
}

// CreateAccount stores a new account; an email already in use is ErrConflict.
func (s *Store) CreateAccount(ctx context.Context, a auth.Account) (auth.Account, error) {
	now := s.now()
	a.CreatedAt, a.UpdatedAt = now.UTC(), now.UTC()
	err := s.Write(ctx, func(ctx context.Context, tx *Tx) error {
		var n int
		if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM accounts WHERE email = ?`, a.Email).Scan(&n); err != nil {
			return err
		}
		if n > 0 {
			return fmt.Errorf("email %s is already in use: %w", a.Email, concierge.ErrConflict)
		}
		id, err := insertID(ctx, tx, `INSERT INTO accounts (email, name, password_hash, roles, teams, max_chats, disabled,
			must_change_password, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			a.Email, a.Name, a.PasswordHash, encList(a.Roles), encList(a.Teams), a.MaxChats, a.Disabled,
			a.MustChangePassword, ms(now), ms(now))
		a.ID = id
		return err
	})
	if err != nil {
		return a, fmt.Errorf("store: create account: %w", err)
	}
	return a, nil
}

// Account returns one account by id.
func (s *Store) Account(ctx context.Context, id int64) (auth.Account, error) {
	a, err := scanAccount(s.r.QueryRowContext(ctx, `SELECT `+accountCols+` FROM accounts WHERE id = ?`, id))
	if err != nil {
		return a, fmt.Errorf("store: account %d: %w", id, err)
	}
	return a, nil
}

// AccountByEmail returns one account by its (lower-case) email.
func (s *Store) AccountByEmail(ctx context.Context, email string) (auth.Account, error) {
	a, err := scanAccount(s.r.QueryRowContext(ctx, `SELECT `+accountCols+` FROM accounts WHERE email = ?`,
		strings.ToLower(strings.TrimSpace(email))))
	if err != nil {
		return a, fmt.Errorf("store: account %s: %w", email, err)
	}
	return a, nil
}

// Accounts lists every account by email.
func (s *Store) Accounts(ctx context.Context) ([]auth.Account, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT `+accountCols+` FROM accounts ORDER BY email`)
	if err != nil {
		return nil, fmt.Errorf("store: accounts: %w", err)
	}
	defer rows.Close()
	var out []auth.Account
	for rows.Next() {
		a, err := scanAccount(rows)
		if err != nil {
			return nil, fmt.Errorf("store: accounts: %w", err)
		}
		out = append(out, a)
	}
	return out, rows.Err()
}

// UpdateAccount saves name, roles, teams, max chats, disabled and must-change of a.
// Disabling an account also ends its sessions, in the same transaction.
func (s *Store) UpdateAccount(ctx context.Context, a auth.Account) error {
	err := s.Write(ctx, func(ctx context.Context, tx *Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE accounts SET name = ?, roles = ?, teams = ?, max_chats = ?, disabled = ?,
			must_change_password = ?, updated_at = ? WHERE id = ?`,
			a.Name, encList(a.Roles), encList(a.Teams), a.MaxChats, a.Disabled, a.MustChangePassword, ms(s.now()), a.ID)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return concierge.ErrNotFound
		}
		if a.Disabled {
			_, err = tx.ExecContext(ctx, `DELETE FROM sessions WHERE account_id = ?`, a.ID)
		}
		return err
	})
	if err != nil {
		return fmt.Errorf("store: update account %d: %w", a.ID, err)
	}
	return nil
}

// SetPassword replaces an account's password hash and ends all its sessions but keep
// (the session that made the change; "" ends them all).
func (s *Store) SetPassword(ctx context.Context, id int64, hash string, mustChange bool, keep string) error {
	err := s.Write(ctx, func(ctx context.Context, tx *Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE accounts SET password_hash = ?, must_change_password = ?, updated_at = ? WHERE id = ?`,
			hash, mustChange, ms(s.now()), id)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return concierge.ErrNotFound
		}
		_, err = tx.ExecContext(ctx, `DELETE FROM sessions WHERE account_id = ? AND id <> ?`, id, keep)
		return err
	})
	if err != nil {
		return fmt.Errorf("store: set password of %d: %w", id, err)
	}
	return nil
}

// CountAdmins counts enabled admin accounts.
func (s *Store) CountAdmins(ctx context.Context) (int, error) {
	accts, err := s.Accounts(ctx)
	if err != nil {
		return 0, err
	}
	n := 0
	for _, a := range accts {
		if a.Admin() && !a.Disabled {
			n++
		}
	}
	return n, nil
}

// StartSession stores a new session and records the sign-in; replaces, when set, is the
// session it rotates out (deleted in the same transaction).
func (s *Store) StartSession(ctx context.Context, sess auth.Session, replaces string) error {
	err := s.Write(ctx, func(ctx context.Context, tx *Tx) error {
		if replaces != "" {
			if _, err := tx.ExecContext(ctx, `DELETE FROM sessions WHERE id = ?`, replaces); err != nil {
				return err
			}
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO sessions (id, account_id, csrf, ip, user_agent, created_at, seen_at, expires_at)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?)`, sess.ID, sess.AccountID, sess.CSRF, sess.IP, sess.UserAgent,
			ms(sess.CreatedAt), ms(sess.SeenAt), ms(sess.ExpiresAt)); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, `UPDATE accounts SET last_login_at = ? WHERE id = ?`, ms(sess.CreatedAt), sess.AccountID)
		return err
	})
	if err != nil {
		return fmt.Errorf("store: start session: %w", err)
	}
	return nil
}

// Session returns a session by its id (the token hash).
func (s *Store) Session(ctx context.Context, id string) (auth.Session, error) {
	var sess auth.Session
	var created, seen, expires int64
	err := s.r.QueryRowContext(ctx, `SELECT id, account_id, csrf, ip, user_agent, created_at, seen_at, expires_at
		FROM sessions WHERE id = ?`, id).Scan(&sess.ID, &sess.AccountID, &sess.CSRF, &sess.IP, &sess.UserAgent,
		&created, &seen, &expires)
	if errors.Is(err, sql.ErrNoRows) {
		err = concierge.ErrNotFound
	}
	if err != nil {
		return sess, fmt.Errorf("store: session: %w", err)
	}
	sess.CreatedAt, sess.SeenAt, sess.ExpiresAt = fromMS(created), fromMS(seen), fromMS(expires)
	return sess, nil
}

// TouchSession records that a session was used at t.
func (s *Store) TouchSession(ctx context.Context, id string, t time.Time) error {
	err := s.Write(ctx, func(ctx context.Context, tx *Tx) error {
		_, err := tx.ExecContext(ctx, `UPDATE sessions SET seen_at = ? WHERE id = ? AND seen_at < ?`, ms(t), id, ms(t))
		return err
	})
	if err != nil {
		return fmt.Errorf("store: touch session: %w", err)
	}
	return nil
}

// EndSession deletes one session (logout).
func (s *Store) EndSession(ctx context.Context, id string) error {
	err := s.Write(ctx, func(ctx context.Context, tx *Tx) error {
		_, err := tx.ExecContext(ctx, `DELETE FROM sessions WHERE id = ?`, id)
		return err
	})
	if err != nil {
		return fmt.Errorf("store: end session: %w", err)
	}
	return nil
}

// PruneSessions deletes sessions that expired, or were idle since before idleBefore.
func (s *Store) PruneSessions(ctx context.Context, now, idleBefore time.Time) (int64, error) {
	var n int64
	err := s.Write(ctx, func(ctx context.Context, tx *Tx) error {
		res, err := tx.ExecContext(ctx, `DELETE FROM sessions WHERE expires_at <= ? OR seen_at < ?`, ms(now), ms(idleBefore))
		if err != nil {
			return err
		}
		n, _ = res.RowsAffected()
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("store: prune sessions: %w", err)
	}
	return n, nil
}
