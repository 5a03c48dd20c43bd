package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/conciergehq/concierge"
)

const contactCols = `id, channel, external_id, name, email, verified, attributes, unreachable, unreachable_reason, created_at, updated_at`

func scanContact(row scanner) (concierge.Contact, error) {
	var c concierge.Contact
	var attrs string
	var created, updated int64
	err := row.Scan(&c.ID, &c.Channel, &c.ExternalID, &c.Name, &c.Email, &c.Verified, &attrs, &c.Unreachable,
		&c.UnreachableReason, &created, &updated)
	if errors.Is(err, sql.ErrNoRows) {
		return c, concierge.ErrNotFound
	}
	if err != nil {
		return c, err
	}
	decJSON(attrs, &c.Attributes)
	c.CreatedAt, c.UpdatedAt = fromMS(created), fromMS(updated)
	return c, nil
}

// Contact returns one contact.
func (s *Store) Contact(ctx context.Context, id int64) (concierge.Contact, error) {
	c, err := scanContact(s.r.QueryRowContext(ctx, `SELECT `+contactCols+` FROM contacts WHERE id = ?`, id))
	if err != nil {
		return c, fmt.Errorf("store: contact %d: %w", id, err)
	}
	return c, nil
}

// ContactByExternal finds a contact by its id on a channel.
func (s *Store) ContactByExternal(ctx context.Context, channel, externalID string) (concierge.Contact, error) {
	c, err := scanContact(s.r.QueryRowContext(ctx, `SELECT `+contactCols+` FROM contacts WHERE channel = ? AND external_id = ?`,
		channel, externalID))
	if err != nil {
		return c, fmt.Errorf("store: contact %s on %s: %w", externalID, channel, err)
	}
	return c, nil
}

// EnsureContact returns the contact for a channel identity, creating it when new and
// applying p (see Contact.MergeProfile).
func (s *Store) EnsureContact(ctx context.Context, channel, externalID string, p concierge.Profile) (concierge.Contact, error) {
	var c concierge.Contact
	err := s.Write(ctx, func(ctx context.Context, tx *Tx) error {
		var err error
		c, err = upsertContact(ctx, tx, channel, externalID, p, s.now())
		return err
	})
	if err != nil {
		return c, fmt.Errorf("store: ensure contact on %s: %w", channel, err)
	}
	return c, nil
}

// SetUnreachable marks a contact the channel will not deliver to (reason set) or clears
// the mark (reason empty).
func (s *Store) SetUnreachable(ctx context.Context, contactID int64, reason string) error {
	err := s.Write(ctx, func(ctx context.Context, tx *Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE contacts SET unreachable = ?, unreachable_reason = ?, updated_at = ? WHERE id = ?`,
			reason != "", reason, ms(s.now()), contactID)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return concierge.ErrNotFound
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("store: set contact %d unreachable: %w", contactID, err)
	}
	return nil
}

// OutboxItem is a message waiting for delivery.
type OutboxItem struct {
	Message     concierge.Message
	Channel     string
	Attempts    int
	NextAttempt time.Time
	LastError   string
}

// PendingOutbox returns up to limit undelivered messages, oldest first, due or not: the
// caller keeps each conversation in order by not sending past one that is not yet due.
func (s *Store) PendingOutbox(ctx context.Context, limit int) ([]OutboxItem, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT o.channel, o.attempts, o.next_attempt_at, o.last_error, `+prefixed("m.", messageCols)+`
		FROM outbox o JOIN messages m ON m.id = o.message_id
		WHERE o.state = 'pending' ORDER BY o.message_id LIMIT ?`, limit)
	if err != nil {
		return nil, fmt.Errorf("store: pending outbox: %w", err)
	}
	defer rows.Close()
	var out []OutboxItem
	for rows.Next() {
		var it OutboxItem
		var next int64
		m, err := scanMessage(rows, &it.Channel, &it.Attempts, &next, &it.LastError)
		if err != nil {
			return nil, fmt.Errorf("store: pending outbox: %w", err)
		}
		it.Message, it.NextAttempt = m, fromMS(next)
		out = append(out, it)
	}
	return out, rows.Err()
}

// OutboxSent records a confirmed delivery; externalID is the channel's id for the message.
func (s *Store) OutboxSent(ctx context.Context, messageID int64, externalID string) error {
	return s.outboxUpdate(ctx, messageID, `UPDATE outbox SET state = 'sent', attempts = attempts + 1, external_id = ?,
		last_error = '', updated_at = ? WHERE message_id = ?`, externalID, ms(s.now()), messageID)
}

// OutboxRetry records a failed attempt and when to try again.
func (s *Store) OutboxRetry(ctx context.Context, messageID int64, cause string, next time.Time) error {
	return s.outboxUpdate(ctx, messageID, `UPDATE outbox SET attempts = attempts + 1, last_error = ?, next_attempt_at = ?,
		updated_at = ? WHERE message_id = ?`, cause, ms(next), ms(s.now()), messageID)
}

// OutboxFailed gives up on a message (the channel refused it for good).
func (s *Store) OutboxFailed(ctx context.Context, messageID int64, cause string) error {
	return s.outboxUpdate(ctx, messageID, `UPDATE outbox SET state = 'failed', attempts = attempts + 1, last_error = ?,
		updated_at = ? WHERE message_id = ?`, cause, ms(s.now()), messageID)
}

func (s *Store) outboxUpdate(ctx context.Context, messageID int64, q string, args ...any) error {
	err := s.Write(ctx, func(ctx context.Context, tx *Tx) error {
		res, err := tx.ExecContext(ctx, q, args...)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return concierge.ErrNotFound
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("store: outbox message %d: %w", messageID, err)
	}
	return nil
}

// OutboxState reports a message's delivery state ("pending", "sent", "failed") and last error.
func (s *Store) OutboxState(ctx context.Context, messageID int64) (state, lastError string, err error) {
	err = s.r.QueryRowContext(ctx, `SELECT state, last_error FROM outbox WHERE message_id = ?`, messageID).Scan(&state, &lastError)
	if errors.Is(err, sql.ErrNoRows) {
		err = concierge.ErrNotFound
	}
	if err != nil {
		return "", "", fmt.Errorf("store: outbox state of %d: %w", messageID, err)
	}
	return state, lastError, nil
}

// FirstSeen records a dedupe key for a delivery that does not become a message and
// reports whether this is its first sighting.
func (s *Store) FirstSeen(ctx context.Context, channel, key string) (bool, error) {
	first := false
	err := s.Write(ctx, func(ctx context.Context, tx *Tx) error {
		res, err := tx.ExecContext(ctx, `INSERT INTO dedupe (channel, key, created_at) VALUES (?, ?, ?) ON CONFLICT DO NOTHING`,
			channel, key, ms(s.now()))
		if err != nil {
			return err
		}
		n, _ := res.RowsAffected()
		first = n == 1
		return nil
	})
	if err != nil {
		return false, fmt.Errorf("store: dedupe %s on %s: %w", key, channel, err)
	}
	return first, nil
}

// PruneDedupe forgets dedupe keys recorded before t.
func (s *Store) PruneDedupe(ctx context.Context, before time.Time) (int64, error) {
	var n int64
	err := s.Write(ctx, func(ctx context.Context, tx *Tx) error {
		res, err := tx.ExecContext(ctx, `DELETE FROM dedupe WHERE created_at < ?`, ms(before))
		if err != nil {
			return err
		}
		n, _ = res.RowsAffected()
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("store: prune dedupe: %w", err)
	}
	return n, nil
}

// ChannelState reads a value a channel keeps across restarts (ErrNotFound when unset).
func (s *Store) ChannelState(ctx context.Context, channel, key string) (string, error) {
	var v string
	err := s.r.QueryRowContext(ctx, `SELECT value FROM channel_state WHERE channel = ? AND key = ?`, channel, key).Scan(&v)
	if errors.Is(err, sql.ErrNoRows) {
		err = concierge.ErrNotFound
	}
	if err != nil {
		return "", fmt.Errorf("store: %s state %s: %w", channel, key, err)
	}
	return v, nil
}

// SetChannelState writes a value a channel keeps across restarts.
func (s *Store) SetChannelState(ctx context.Context, channel, key, value string) error {
	err := s.Write(ctx, func(ctx context.Context, tx *Tx) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO channel_state (channel, key, value, updated_at) VALUES (?, ?, ?, ?)
			ON CONFLICT (channel, key) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at`,
			channel, key, value, ms(s.now()))
		return err
	})
	if err != nil {
		return fmt.Errorf("store: set %s state %s: %w", channel, key, err)
	}
	return nil
}

func prefixed(prefix, cols string) string {
	out := make([]byte, 0, len(cols)*2)
	out = append(out, prefix...)
	for i := 0; i < len(cols); i++ {
		out = append(out, cols[i])
		if cols[i] == ',' {
			for i+1 < len(cols) && (cols[i+1] == ' ' || cols[i+1] == '\n' || cols[i+1] == '\t') {
				i++
			}
			out = append(out, ' ')
			out = append(out, prefix...)
		}
	}
	return string(out)
}
