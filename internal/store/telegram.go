package store

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/conciergehq/concierge"
)

// TelegramUpdate is one Bot API update waiting to be processed.
type TelegramUpdate struct {
	UpdateID    int64
	ChatID      int64
	Body        []byte
	Attempts    int
	NextAttempt time.Time
}

// TelegramOffsetKey is the channel_state key of a bot's getUpdates offset.
const TelegramOffsetKey = "offset"

// TelegramEnqueue stores the updates not stored before and, when offset > 0, the bot's
// poll offset, in one transaction: once it returns the updates are durable and may be
// confirmed to Telegram. It reports how many updates were new.
func (s *Store) TelegramEnqueue(ctx context.Context, channel string, ups []TelegramUpdate, offset int64) (int, error) {
	added := 0
	err := s.Write(ctx, func(ctx context.Context, tx *Tx) error {
		added = 0
		now := ms(s.now())
		for _, u := range ups {
			res, err := tx.ExecContext(ctx, `INSERT INTO telegram_updates (channel, update_id, chat_id, body, next_attempt_at, created_at)
				VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (channel, update_id) DO NOTHING`,
				channel, u.UpdateID, u.ChatID, string(u.Body), now, now)
			if err != nil {
				return err
			}
			if n, _ := res.RowsAffected(); n == 1 {
				added++
			}
		}
		if offset <= 0 {
			return nil
		}
		_, err := tx.ExecContext(ctx, `INSERT INTO channel_state (channel, key, value, updated_at) VALUES (?, ?, ?, ?)
			ON CONFLICT (channel, key) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at`,
			channel, TelegramOffsetKey, strconv.FormatInt(offset, 10), now)
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("store: enqueue %d telegram updates on %s: %w", len(ups), channel, err)
	}
	return added, nil
}

// TelegramPending returns up to limit unprocessed updates of a bot, oldest first, due or
// not: the caller keeps each chat in order by not processing past one that is not due.
func (s *Store) TelegramPending(ctx context.Context, channel string, limit int) ([]TelegramUpdate, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT update_id, chat_id, body, attempts, next_attempt_at FROM telegram_updates
		WHERE channel = ? AND state = 'pending' ORDER BY update_id LIMIT ?`, channel, limit)
	if err != nil {
		return nil, fmt.Errorf("store: pending telegram updates on %s: %w", channel, err)
	}
	defer rows.Close()
	var out []TelegramUpdate
	for rows.Next() {
		var u TelegramUpdate
		var body string
		var next int64
		if err := rows.Scan(&u.UpdateID, &u.ChatID, &body, &u.Attempts, &next); err != nil {
			return nil, fmt.Errorf("store: pending telegram updates on %s: %w", channel, err)
		}
		u.Body, u.NextAttempt = []byte(body), fromMS(next)
		out = append(out, u)
	}
	return out, rows.Err()
}

// TelegramDone marks an update processed and forgets its body. A non-empty cause records
// why it was dropped or failed for good (state failed).
func (s *Store) TelegramDone(ctx context.Context, channel string, updateID int64, cause string) error {
	state, body := "done", "''"
	if cause != "" {
		state, body = "failed", "body" // kept so an operator can see what could not be handled
	}
	return s.telegramUpdate(ctx, channel, updateID, `UPDATE telegram_updates SET state = ?, body = `+body+`,
		attempts = attempts + 1, last_error = ? WHERE channel = ? AND update_id = ?`, state, cause, channel, updateID)
}

// TelegramRetry records a failed attempt at an update and when to try again.
func (s *Store) TelegramRetry(ctx context.Context, channel string, updateID int64, cause string, next time.Time) error {
	return s.telegramUpdate(ctx, channel, updateID, `UPDATE telegram_updates SET attempts = attempts + 1, last_error = ?,
		next_attempt_at = ? WHERE channel = ? AND update_id = ?`, cause, ms(next), channel, updateID)
}

func (s *Store) telegramUpdate(ctx context.Context, channel string, updateID int64, q string, args ...any) error {
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
		return fmt.Errorf("store: telegram update %d on %s: %w", updateID, channel, err)
	}
	return nil
}

// TelegramPrune forgets a bot's processed updates stored before t (their ids only guard
// against redelivery, which Telegram does within a day).
func (s *Store) TelegramPrune(ctx context.Context, channel string, before time.Time) (int64, error) {
	var n int64
	err := s.Write(ctx, func(ctx context.Context, tx *Tx) error {
		res, err := tx.ExecContext(ctx, `DELETE FROM telegram_updates WHERE channel = ? AND state <> 'pending' AND created_at < ?`,
			channel, ms(before))
		if err != nil {
			return err
		}
		n, _ = res.RowsAffected()
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("store: prune telegram updates on %s: %w", channel, err)
	}
	return n, nil
}
