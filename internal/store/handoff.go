package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/conciergehq/concierge"
	"github.com/conciergehq/concierge/handoff"
)

// The queue's state changes are conditional UPDATEs of the conversation row: "set
// assigned where still queued". SQLite has one writer, so the first of two concurrent
// claims changes the row and the second finds nothing to change; on PostgreSQL the same
// statement locks the row and the loser re-evaluates its WHERE after the winner commits,
// with the same outcome. (Auto-assignment picking from a queue shared by several
// instances would read candidates with SELECT … FOR UPDATE SKIP LOCKED there.)

// Enqueue moves a bot conversation to the queue: status, team and priority change, the
// pending escalation is cleared and the ticket written, all in one transaction. A
// conversation no longer with the bot is ErrConflict.
func (s *Store) Enqueue(ctx context.Context, t handoff.Ticket, priority int, language string) (concierge.Conversation, error) {
	var conv concierge.Conversation
	err := s.Write(ctx, func(ctx context.Context, tx *Tx) error {
		now := s.now()
		res, err := tx.ExecContext(ctx, `UPDATE conversations SET status = 'queued', team = ?, priority = ?, assignee_id = 0,
			language = CASE WHEN language = '' THEN ? ELSE language END, pending_escalation = NULL, updated_at = ?
			WHERE id = ? AND status = 'bot'`, t.Team, priority, language, ms(now), t.ConversationID)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			cur, err := conversationTx(ctx, tx, t.ConversationID)
			if err != nil {
				return err
			}
			return fmt.Errorf("conversation is %s, not with the bot: %w", cur.Status, concierge.ErrConflict)
		}
		_, err = tx.ExecContext(ctx, `INSERT INTO tickets (conversation_id, team, tier, reason, escalation, offline, contact_email,
			escalated_at, queued_at, first_response_due, resolution_due) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
			ON CONFLICT (conversation_id) DO UPDATE SET team = excluded.team, tier = excluded.tier, reason = excluded.reason,
			escalation = excluded.escalation, offline = excluded.offline, escalated_at = excluded.escalated_at,
			queued_at = excluded.queued_at, first_response_due = excluded.first_response_due,
			resolution_due = excluded.resolution_due, assigned_at = NULL, first_response_at = NULL, closed_at = NULL,
			first_response_breached_at = NULL, resolution_breached_at = NULL, resolution = '', unread = 0`,
			t.ConversationID, t.Team, t.Tier, t.Reason, t.EscalationJSON(), t.Offline, t.ContactEmail,
			ms(t.EscalatedAt), ms(t.QueuedAt), ms(t.FirstResponseDue), ms(t.ResolutionDue))
		if err != nil {
			return err
		}
		conv, err = conversationTx(ctx, tx, t.ConversationID)
		return err
	})
	if err != nil {
		return conv, fmt.Errorf("store: enqueue %d: %w", t.ConversationID, err)
	}
	return conv, nil
}

// conflict explains why a conditional update of a conversation changed nothing.
func conflict(ctx context.Context, tx *Tx, id int64, what string) error {
	cur, err := conversationTx(ctx, tx, id)
	if err != nil {
		return err
	}
	return &handoff.ConflictError{Op: what, Conversation: cur}
}

// Claim assigns a queued conversation to an agent. team, when set, must still be the
// conversation's team (a transfer may have moved it). Losing a race is a
// *handoff.ConflictError (errors.Is ErrConflict) carrying the conversation as it is.
func (s *Store) Claim(ctx context.Context, convID, agentID int64, team string) (concierge.Conversation, error) {
	var conv concierge.Conversation
	err := s.Write(ctx, func(ctx context.Context, tx *Tx) error {
		now := ms(s.now())
		res, err := tx.ExecContext(ctx, `UPDATE conversations SET status = 'assigned', assignee_id = ?, updated_at = ?
			WHERE id = ? AND status = 'queued' AND (? = '' OR team = ?)`, agentID, now, convID, team, team)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return conflict(ctx, tx, convID, "claim")
		}
		if _, err := tx.ExecContext(ctx, `UPDATE tickets SET assigned_at = ?, unread = 0 WHERE conversation_id = ?`, now, convID); err != nil {
			return err
		}
		conv, err = conversationTx(ctx, tx, convID)
		return err
	})
	if err != nil {
		return conv, fmt.Errorf("store: claim %d: %w", convID, err)
	}
	return conv, nil
}

// Requeue puts an open conversation (back) into team's queue: a transfer to a team, or an
// agent who went offline. expectAssignee, when set, must still own it.
func (s *Store) Requeue(ctx context.Context, convID, expectAssignee int64, team string) (concierge.Conversation, error) {
	var conv concierge.Conversation
	err := s.Write(ctx, func(ctx context.Context, tx *Tx) error {
		now := ms(s.now())
		res, err := tx.ExecContext(ctx, `UPDATE conversations SET status = 'queued', assignee_id = 0, team = ?, updated_at = ?
			WHERE id = ? AND status IN ('queued', 'assigned') AND (? = 0 OR assignee_id = ?)`,
			team, now, convID, expectAssignee, expectAssignee)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return conflict(ctx, tx, convID, "requeue")
		}
		if _, err := tx.ExecContext(ctx, `UPDATE tickets SET team = ?, queued_at = ?, assigned_at = NULL, notice_position = 0,
			transfers = transfers + 1 WHERE conversation_id = ?`, team, now, convID); err != nil {
			return err
		}
		conv, err = conversationTx(ctx, tx, convID)
		return err
	})
	if err != nil {
		return conv, fmt.Errorf("store: requeue %d: %w", convID, err)
	}
	return conv, nil
}

// Reassign hands an open conversation to another agent (a transfer to a person).
// expectAssignee, when set, must still own it.
func (s *Store) Reassign(ctx context.Context, convID, expectAssignee, to int64) (concierge.Conversation, error) {
	var conv concierge.Conversation
	err := s.Write(ctx, func(ctx context.Context, tx *Tx) error {
		now := ms(s.now())
		res, err := tx.ExecContext(ctx, `UPDATE conversations SET status = 'assigned', assignee_id = ?, updated_at = ?
			WHERE id = ? AND status IN ('queued', 'assigned') AND (? = 0 OR assignee_id = ?)`,
			to, now, convID, expectAssignee, expectAssignee)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return conflict(ctx, tx, convID, "transfer")
		}
		if _, err := tx.ExecContext(ctx, `UPDATE tickets SET assigned_at = ?, transfers = transfers + 1 WHERE conversation_id = ?`,
			now, convID); err != nil {
			return err
		}
		conv, err = conversationTx(ctx, tx, convID)
		return err
	})
	if err != nil {
		return conv, fmt.Errorf("store: reassign %d: %w", convID, err)
	}
	return conv, nil
}

// CloseTicket closes an open conversation with its outcome; survey marks it as waiting
// for the customer's rating. A resolution past its due time is recorded as breached.
func (s *Store) CloseTicket(ctx context.Context, convID, expectAssignee int64, res handoff.Resolution, tags []string,
	by int64, survey bool) (concierge.Conversation, error) {
	var conv concierge.Conversation
	err := s.Write(ctx, func(ctx context.Context, tx *Tx) error {
		now := ms(s.now())
		r, err := tx.ExecContext(ctx, `UPDATE conversations SET status = 'closed', closed_at = ?, csat_pending = ?, updated_at = ?
			WHERE id = ? AND status IN ('queued', 'assigned') AND (? = 0 OR assignee_id = ?)`,
			now, survey, now, convID, expectAssignee, expectAssignee)
		if err != nil {
			return err
		}
		if n, _ := r.RowsAffected(); n == 0 {
			return conflict(ctx, tx, convID, "close")
		}
		if _, err := tx.ExecContext(ctx, `UPDATE tickets SET closed_at = ?, resolution = ?, tags = ?, closed_by = ?, unread = 0,
			resolution_breached_at = CASE WHEN resolution_breached_at IS NULL AND resolution_due < ? THEN ? ELSE resolution_breached_at END
			WHERE conversation_id = ?`, now, string(res), encList(tags), by, now, now, convID); err != nil {
			return err
		}
		conv, err = conversationTx(ctx, tx, convID)
		return err
	})
	if err != nil {
		return conv, fmt.Errorf("store: close %d: %w", convID, err)
	}
	return conv, nil
}

// FirstResponse records the first agent reply of a ticket (later replies change nothing),
// and a first-response breach when it came after the due time.
func (s *Store) FirstResponse(ctx context.Context, convID int64, at time.Time) error {
	err := s.Write(ctx, func(ctx context.Context, tx *Tx) error {
		_, err := tx.ExecContext(ctx, `UPDATE tickets SET first_response_at = ?,
			first_response_breached_at = CASE WHEN first_response_breached_at IS NULL AND first_response_due < ? THEN ?
				ELSE first_response_breached_at END
			WHERE conversation_id = ? AND first_response_at IS NULL`, ms(at), ms(at), ms(at), convID)
		return err
	})
	if err != nil {
		return fmt.Errorf("store: first response of %d: %w", convID, err)
	}
	return nil
}

// RecordRating stores the customer's rating and ends the survey. A conversation whose
// survey is not pending (rated already, or never asked) is ErrConflict.
func (s *Store) RecordRating(ctx context.Context, convID int64, rating int, comment string) error {
	err := s.Write(ctx, func(ctx context.Context, tx *Tx) error {
		now := ms(s.now())
		res, err := tx.ExecContext(ctx, `UPDATE conversations SET csat_pending = 0, updated_at = ? WHERE id = ? AND csat_pending = 1`, now, convID)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return fmt.Errorf("no survey is pending: %w", concierge.ErrConflict)
		}
		_, err = tx.ExecContext(ctx, `UPDATE tickets SET rating = ?, rating_comment = ?, rated_at = ? WHERE conversation_id = ?`,
			rating, comment, now, convID)
		return err
	})
	if err != nil {
		return fmt.Errorf("store: rating of %d: %w", convID, err)
	}
	return nil
}

// AddUnread counts one more customer message the assignee has not seen.
func (s *Store) AddUnread(ctx context.Context, convID int64) (int, error) {
	return s.setUnread(ctx, convID, `UPDATE tickets SET unread = unread + 1 WHERE conversation_id = ?`)
}

// MarkRead clears a ticket's unread count.
func (s *Store) MarkRead(ctx context.Context, convID int64) error {
	_, err := s.setUnread(ctx, convID, `UPDATE tickets SET unread = 0 WHERE conversation_id = ?`)
	return err
}

func (s *Store) setUnread(ctx context.Context, convID int64, q string) (int, error) {
	var n int
	err := s.Write(ctx, func(ctx context.Context, tx *Tx) error {
		if _, err := tx.ExecContext(ctx, q, convID); err != nil {
			return err
		}
		err := tx.QueryRowContext(ctx, `SELECT unread FROM tickets WHERE conversation_id = ?`, convID).Scan(&n)
		if errors.Is(err, sql.ErrNoRows) {
			return concierge.ErrNotFound
		}
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("store: unread of %d: %w", convID, err)
	}
	return n, nil
}

// SetTicketEmail records the contact email an offline ticket collected; the contact
// keeps it too when it had none.
func (s *Store) SetTicketEmail(ctx context.Context, convID int64, email string) error {
	err := s.Write(ctx, func(ctx context.Context, tx *Tx) error {
		if _, err := tx.ExecContext(ctx, `UPDATE tickets SET contact_email = ? WHERE conversation_id = ?`, email, convID); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, `UPDATE contacts SET email = ?, updated_at = ?
			WHERE email = '' AND id = (SELECT contact_id FROM conversations WHERE id = ?)`, email, ms(s.now()), convID)
		return err
	})
	if err != nil {
		return fmt.Errorf("store: email of %d: %w", convID, err)
	}
	return nil
}

// SetNotice records the queue position a waiting customer was last told.
func (s *Store) SetNotice(ctx context.Context, convID int64, position int, at time.Time) error {
	err := s.Write(ctx, func(ctx context.Context, tx *Tx) error {
		_, err := tx.ExecContext(ctx, `UPDATE tickets SET notice_position = ?, notice_at = ? WHERE conversation_id = ?`,
			position, ms(at), convID)
		return err
	})
	if err != nil {
		return fmt.Errorf("store: notice of %d: %w", convID, err)
	}
	return nil
}

// RecordBreaches marks open tickets whose first-response or resolution time passed at
// now and returns their conversations.
func (s *Store) RecordBreaches(ctx context.Context, now time.Time) ([]int64, error) {
	var ids []int64
	err := s.Write(ctx, func(ctx context.Context, tx *Tx) error {
		ids = ids[:0]
		t := ms(now)
		rows, err := tx.QueryContext(ctx, `SELECT conversation_id FROM tickets WHERE closed_at IS NULL AND (
			(first_response_at IS NULL AND first_response_breached_at IS NULL AND first_response_due <= ?)
			OR (resolution_breached_at IS NULL AND resolution_due <= ?))`, t, t)
		if err != nil {
			return err
		}
		for rows.Next() {
			var id int64
			if err := rows.Scan(&id); err != nil {
				rows.Close()
				return err
			}
			ids = append(ids, id)
		}
		rows.Close()
		if len(ids) == 0 {
			return rows.Err()
		}
		if _, err := tx.ExecContext(ctx, `UPDATE tickets SET first_response_breached_at = ? WHERE closed_at IS NULL
			AND first_response_at IS NULL AND first_response_breached_at IS NULL AND first_response_due <= ?`, t, t); err != nil {
			return err
		}
		_, err = tx.ExecContext(ctx, `UPDATE tickets SET resolution_breached_at = ? WHERE closed_at IS NULL
			AND resolution_breached_at IS NULL AND resolution_due <= ?`, t, t)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("store: record breaches: %w", err)
	}
	return ids, nil
}

const ticketCols = `t.conversation_id, t.team, t.tier, t.reason, t.escalation, t.offline, t.contact_email, t.escalated_at,
	t.queued_at, t.first_response_due, t.resolution_due, t.assigned_at, t.first_response_at, t.closed_at,
	t.first_response_breached_at, t.resolution_breached_at, t.resolution, t.tags, t.closed_by, t.rating,
	t.rating_comment, t.rated_at, t.unread, t.notice_position, t.notice_at, t.transfers`

func ticketDest(t *handoff.Ticket, esc, tags *string, times []*int64, nulls []*sql.NullInt64, res *string) []any {
	return []any{&t.ConversationID, &t.Team, &t.Tier, &t.Reason, esc, &t.Offline, &t.ContactEmail, times[0],
		times[1], times[2], times[3], nulls[0], nulls[1], nulls[2], nulls[3], nulls[4], res, tags, &t.ClosedBy,
		&t.Rating, &t.RatingComment, nulls[5], &t.Unread, &t.NoticePosition, times[4], &t.Transfers}
}

type ticketScan struct {
	t          handoff.Ticket
	esc, tags  string
	res        string
	times      [5]int64
	nulls      [6]sql.NullInt64
	timePtrs   []*int64
	nullPtrs   []*sql.NullInt64
	scanTarget []any
}

func newTicketScan() *ticketScan {
	ts := &ticketScan{}
	for i := range ts.times {
		ts.timePtrs = append(ts.timePtrs, &ts.times[i])
	}
	for i := range ts.nulls {
		ts.nullPtrs = append(ts.nullPtrs, &ts.nulls[i])
	}
	ts.scanTarget = ticketDest(&ts.t, &ts.esc, &ts.tags, ts.timePtrs, ts.nullPtrs, &ts.res)
	return ts
}

func (ts *ticketScan) ticket() handoff.Ticket {
	t := ts.t
	t.Escalation = concierge.Escalation{}
	t.DecodeEscalation(ts.esc)
	t.Tags = nil
	decJSON(ts.tags, &t.Tags)
	t.Resolution = handoff.Resolution(ts.res)
	t.EscalatedAt, t.QueuedAt, t.FirstResponseDue, t.ResolutionDue = fromMS(ts.times[0]), fromMS(ts.times[1]),
		fromMS(ts.times[2]), fromMS(ts.times[3])
	t.NoticeAt = fromMS(ts.times[4])
	t.AssignedAt, t.FirstResponseAt, t.ClosedAt = fromNullMS(ts.nulls[0]), fromNullMS(ts.nulls[1]), fromNullMS(ts.nulls[2])
	t.FirstResponseBreachedAt, t.ResolutionBreachedAt, t.RatedAt = fromNullMS(ts.nulls[3]), fromNullMS(ts.nulls[4]), fromNullMS(ts.nulls[5])
	return t
}

// Ticket returns the ticket of a conversation.
func (s *Store) Ticket(ctx context.Context, convID int64) (handoff.Ticket, error) {
	ts := newTicketScan()
	err := s.r.QueryRowContext(ctx, `SELECT `+ticketCols+` FROM tickets t WHERE t.conversation_id = ?`, convID).Scan(ts.scanTarget...)
	if errors.Is(err, sql.ErrNoRows) {
		err = concierge.ErrNotFound
	}
	if err != nil {
		return handoff.Ticket{}, fmt.Errorf("store: ticket of %d: %w", convID, err)
	}
	return ts.ticket(), nil
}

// itemQuery selects queue items: conversation, ticket, contact display fields and the
// customer's latest message.
var itemQuery = `SELECT ` + prefixed("c.", conversationCols) + `, ` + ticketCols + `,
	ct.id, ct.channel, ct.name, ct.email,
	COALESCE((SELECT m.text FROM messages m WHERE m.conversation_id = c.id AND m.sender = 'user' ORDER BY m.seq DESC LIMIT 1), '')
	FROM conversations c JOIN tickets t ON t.conversation_id = c.id JOIN contacts ct ON ct.id = c.contact_id `

func (s *Store) items(ctx context.Context, where string, args ...any) ([]handoff.QueueItem, error) {
	rows, err := s.r.QueryContext(ctx, itemQuery+where, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []handoff.QueueItem
	ts := newTicketScan()
	for rows.Next() {
		var it handoff.QueueItem
		var ct concierge.Contact
		var preview string
		dest := append([]any{}, ts.scanTarget...)
		dest = append(dest, &ct.ID, &ct.Channel, &ct.Name, &ct.Email, &preview)
		conv, err := scanConversation(trailing{rows, dest})
		if err != nil {
			return nil, err
		}
		conv.BotState = nil
		it.Conversation, it.Ticket, it.ContactName, it.Preview = conv, ts.ticket(), ct.DisplayName(), truncateRunes(preview, 140)
		out = append(out, it)
	}
	return out, rows.Err()
}

func truncateRunes(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n-1]) + "…"
}

// Queued lists every queued conversation in queue order: per team, the earliest
// first-response deadline first (tier and waited time are both in it), then priority.
func (s *Store) Queued(ctx context.Context) ([]handoff.QueueItem, error) {
	out, err := s.items(ctx, `WHERE c.status = 'queued'
		ORDER BY c.team, t.first_response_due, c.priority DESC, t.queued_at, c.id`)
	if err != nil {
		return nil, fmt.Errorf("store: queued: %w", err)
	}
	return out, nil
}

// QueuePosition is a queued conversation's place in its team's queue (1: next), in the
// order Queued lists them. It counts in the tickets_waiting index instead of listing, so
// telling a newly queued customer their place stays cheap however long the queue is
// (escalations keep coming exactly when nobody works the queue).
func (s *Store) QueuePosition(ctx context.Context, convID int64) (int, error) {
	var status string
	var team sql.NullString
	var due, queuedAt sql.NullInt64
	var priority int64
	err := s.r.QueryRowContext(ctx, `SELECT c.status, c.priority, t.team, t.first_response_due, t.queued_at
		FROM conversations c LEFT JOIN tickets t ON t.conversation_id = c.id WHERE c.id = ?`, convID).
		Scan(&status, &priority, &team, &due, &queuedAt)
	if errors.Is(err, sql.ErrNoRows) {
		err = concierge.ErrNotFound
	}
	if err != nil {
		return 0, fmt.Errorf("store: queue position of %d: %w", convID, err)
	}
	if status != string(concierge.StatusQueued) || !team.Valid {
		return 0, fmt.Errorf("store: queue position of %d: %w", convID, concierge.Invalidf("not queued (%s)", status))
	}
	// Ahead: every waiting ticket of the team due earlier, and among those due at the same
	// millisecond the higher priority, then the earlier queued, then the lower id.
	var ahead int
	err = s.r.QueryRowContext(ctx, `SELECT
		(SELECT COUNT(*) FROM tickets WHERE assigned_at IS NULL AND closed_at IS NULL AND team = ? AND first_response_due < ?) +
		(SELECT COUNT(*) FROM tickets t JOIN conversations c ON c.id = t.conversation_id
			WHERE t.assigned_at IS NULL AND t.closed_at IS NULL AND t.team = ? AND t.first_response_due = ? AND c.id <> ?
			AND (-c.priority, t.queued_at, c.id) < (?, ?, ?))`,
		team.String, due.Int64, team.String, due.Int64, convID, -priority, queuedAt.Int64, convID).Scan(&ahead)
	if err != nil {
		return 0, fmt.Errorf("store: queue position of %d: %w", convID, err)
	}
	return ahead + 1, nil
}

// Assigned lists assigned conversations, of one agent (or all when agentID is 0).
func (s *Store) Assigned(ctx context.Context, agentID int64) ([]handoff.QueueItem, error) {
	out, err := s.items(ctx, `WHERE c.status = 'assigned' AND (? = 0 OR c.assignee_id = ?)
		ORDER BY t.assigned_at, c.id`, agentID, agentID)
	if err != nil {
		return nil, fmt.Errorf("store: assigned: %w", err)
	}
	return out, nil
}

// Closed lists recently closed tickets (of one agent's, or all when agentID is 0).
func (s *Store) Closed(ctx context.Context, agentID int64, limit int) ([]handoff.QueueItem, error) {
	out, err := s.items(ctx, `WHERE c.status = 'closed' AND (? = 0 OR t.closed_by = ? OR c.assignee_id = ?)
		ORDER BY t.closed_at DESC LIMIT ?`, agentID, agentID, agentID, limit)
	if err != nil {
		return nil, fmt.Errorf("store: closed: %w", err)
	}
	return out, nil
}

// Item returns one conversation's queue item.
func (s *Store) Item(ctx context.Context, convID int64) (handoff.QueueItem, error) {
	out, err := s.items(ctx, `WHERE c.id = ?`, convID)
	if err == nil && len(out) == 0 {
		err = concierge.ErrNotFound
	}
	if err != nil {
		return handoff.QueueItem{}, fmt.Errorf("store: item %d: %w", convID, err)
	}
	return out[0], nil
}

// AssignedCounts counts assigned conversations per agent.
func (s *Store) AssignedCounts(ctx context.Context) (map[int64]int, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT assignee_id, COUNT(*) FROM conversations WHERE status = 'assigned' GROUP BY assignee_id`)
	if err != nil {
		return nil, fmt.Errorf("store: assigned counts: %w", err)
	}
	defer rows.Close()
	out := map[int64]int{}
	for rows.Next() {
		var id int64
		var n int
		if err := rows.Scan(&id, &n); err != nil {
			return nil, fmt.Errorf("store: assigned counts: %w", err)
		}
		out[id] = n
	}
	return out, rows.Err()
}

// HandleTime is the average time from assignment to close of a team's last 50 tickets
// (0 when there are none yet).
func (s *Store) HandleTime(ctx context.Context, team string) (time.Duration, error) {
	var avg sql.NullFloat64
	err := s.r.QueryRowContext(ctx, `SELECT AVG(d) FROM (SELECT closed_at - assigned_at AS d FROM tickets
		WHERE team = ? AND closed_at IS NOT NULL AND assigned_at IS NOT NULL ORDER BY closed_at DESC LIMIT 50) AS recent`,
		team).Scan(&avg)
	if err != nil {
		return 0, fmt.Errorf("store: handle time of %s: %w", team, err)
	}
	return time.Duration(avg.Float64) * time.Millisecond, nil
}

// TicketStats summarises tickets closed since a time, per team.
func (s *Store) TicketStats(ctx context.Context, since time.Time) ([]handoff.Stats, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT team, rating, first_response_at IS NOT NULL, first_response_breached_at IS NOT NULL,
		resolution_breached_at IS NOT NULL FROM tickets WHERE closed_at >= ? ORDER BY team`, ms(since))
	if err != nil {
		return nil, fmt.Errorf("store: ticket stats: %w", err)
	}
	defer rows.Close()
	var out []handoff.Stats
	sum := map[string]int{}
	for rows.Next() {
		var team string
		var rating int
		var responded, frBreach, resBreach bool
		if err := rows.Scan(&team, &rating, &responded, &frBreach, &resBreach); err != nil {
			return nil, fmt.Errorf("store: ticket stats: %w", err)
		}
		if len(out) == 0 || out[len(out)-1].Team != team {
			out = append(out, handoff.Stats{Team: team})
		}
		st := &out[len(out)-1]
		st.Closed++
		if rating >= 1 && rating <= 5 {
			st.Rated++
			st.Ratings[rating-1]++
			sum[team] += rating
			st.AvgRating = float64(sum[team]) / float64(st.Rated)
		}
		if responded && !frBreach {
			st.FirstResponseMet++
		}
		if frBreach {
			st.FirstResponseHit++
		}
		if resBreach {
			st.ResolutionHit++
		}
	}
	return out, rows.Err()
}

// CannedResponses lists the canned responses of the given teams and the shared ones
// (all of them when teams is nil).
func (s *Store) CannedResponses(ctx context.Context, teams []string) ([]handoff.Canned, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT id, team, shortcut, title, body, created_by, updated_at FROM canned_responses
		ORDER BY shortcut, team`)
	if err != nil {
		return nil, fmt.Errorf("store: canned responses: %w", err)
	}
	defer rows.Close()
	var out []handoff.Canned
	for rows.Next() {
		var c handoff.Canned
		var upd int64
		if err := rows.Scan(&c.ID, &c.Team, &c.Shortcut, &c.Title, &c.Body, &c.CreatedBy, &upd); err != nil {
			return nil, fmt.Errorf("store: canned responses: %w", err)
		}
		c.UpdatedAt = fromMS(upd)
		if teams == nil || c.Team == "" || contains(teams, c.Team) {
			out = append(out, c)
		}
	}
	return out, rows.Err()
}

func contains(list []string, v string) bool {
	for _, x := range list {
		if x == v {
			return true
		}
	}
	return false
}

// CannedResponse returns one canned response.
func (s *Store) CannedResponse(ctx context.Context, id int64) (handoff.Canned, error) {
	var c handoff.Canned
	var upd int64
	err := s.r.QueryRowContext(ctx, `SELECT id, team, shortcut, title, body, created_by, updated_at FROM canned_responses WHERE id = ?`,
		id).Scan(&c.ID, &c.Team, &c.Shortcut, &c.Title, &c.Body, &c.CreatedBy, &upd)
	if errors.Is(err, sql.ErrNoRows) {
		err = concierge.ErrNotFound
	}
	if err != nil {
		return c, fmt.Errorf("store: canned response %d: %w", id, err)
	}
	c.UpdatedAt = fromMS(upd)
	return c, nil
}

// SaveCanned creates (ID 0) or updates a canned response; a shortcut already used in the
// same team is ErrConflict.
func (s *Store) SaveCanned(ctx context.Context, c handoff.Canned) (handoff.Canned, error) {
	err := s.Write(ctx, func(ctx context.Context, tx *Tx) error {
		now := s.now()
		c.UpdatedAt = now.UTC()
		var dup int
		if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM canned_responses WHERE team = ? AND shortcut = ? AND id <> ?`,
			c.Team, c.Shortcut, c.ID).Scan(&dup); err != nil {
			return err
		}
		if dup > 0 {
			return fmt.Errorf("shortcut /%s is already used: %w", c.Shortcut, concierge.ErrConflict)
		}
		if c.ID == 0 {
			id, err := insertID(ctx, tx, `INSERT INTO canned_responses (team, shortcut, title, body, created_by, created_at, updated_at)
				VALUES (?, ?, ?, ?, ?, ?, ?)`, c.Team, c.Shortcut, c.Title, c.Body, c.CreatedBy, ms(now), ms(now))
			c.ID = id
			return err
		}
		res, err := tx.ExecContext(ctx, `UPDATE canned_responses SET team = ?, shortcut = ?, title = ?, body = ?, updated_at = ?
			WHERE id = ?`, c.Team, c.Shortcut, c.Title, c.Body, ms(now), c.ID)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return concierge.ErrNotFound
		}
		return nil
	})
	if err != nil {
		return c, fmt.Errorf("store: save canned response: %w", err)
	}
	return c, nil
}

// DeleteCanned deletes a canned response.
func (s *Store) DeleteCanned(ctx context.Context, id int64) error {
	err := s.Write(ctx, func(ctx context.Context, tx *Tx) error {
		res, err := tx.ExecContext(ctx, `DELETE FROM canned_responses WHERE id = ?`, id)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return concierge.ErrNotFound
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("store: delete canned response %d: %w", id, err)
	}
	return nil
}

// trailing scans a row whose first columns one scanner reads, then extra columns.
type trailing struct {
	row   scanner
	extra []any
}

func (t trailing) Scan(dest ...any) error { return t.row.Scan(append(dest, t.extra...)...) }
