package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"time"

	"github.com/conciergehq/concierge"
)

// Received is the outcome of storing one inbound delivery.
type Received struct {
	Contact      concierge.Contact
	Conversation concierge.Conversation
	Message      concierge.Message
	// Duplicate: the channel delivered this message before; Message is the stored copy
	// and nothing was written.
	Duplicate bool
	// Started: a new conversation was opened for this message.
	Started bool
	// Rating: the message answers the satisfaction survey of a closed conversation.
	Rating bool
	// PrevUserSeq is the customer's message before this one in the conversation (its
	// seq; 0 when none): when it was routed already, this is the only unrouted one.
	PrevUserSeq int64
}

// Receive stores one inbound delivery durably: it finds or creates the contact, picks the
// contact's open conversation (or opens one), and appends the message with the next
// sequence number. A message whose (channel, message id) is already stored is reported as
// a duplicate and nothing changes.
func (s *Store) Receive(ctx context.Context, in concierge.Inbound) (Received, error) {
	var out Received
	now := s.now()
	if in.ReceivedAt.IsZero() {
		in.ReceivedAt = now
	}
	err := s.Write(ctx, func(ctx context.Context, tx *Tx) error {
		out = Received{}
		contact, err := upsertContact(ctx, tx, in.Channel, in.ContactID, in.Profile, now)
		if err != nil {
			return err
		}
		conv, err := scanConversation(tx.QueryRowContext(ctx,
			`SELECT `+conversationCols+` FROM conversations WHERE contact_id = ? ORDER BY id DESC LIMIT 1`, contact.ID))
		found := err == nil
		if err != nil && !errors.Is(err, concierge.ErrNotFound) {
			return err
		}
		_, _, isRating := concierge.ParseRating(in.Text, in.Payload)
		switch {
		case found && conv.Status.Open():
		case found && conv.CSATPending && isRating:
			out.Rating = true
		default:
			if found && conv.CSATPending {
				// The customer moved on without rating; the survey is over.
				if _, err := tx.ExecContext(ctx, `UPDATE conversations SET csat_pending = 0 WHERE id = ?`, conv.ID); err != nil {
					return fmt.Errorf("store: end survey of %d: %w", conv.ID, err)
				}
			}
			conv, err = insertConversation(ctx, tx, contact, in.Meta, now)
			if err != nil {
				return err
			}
			out.Started = true
		}
		if len(in.Meta) > 0 && !out.Started {
			merged := maps.Clone(conv.Meta)
			if merged == nil {
				merged = map[string]string{}
			}
			maps.Copy(merged, in.Meta)
			if _, err := tx.ExecContext(ctx, `UPDATE conversations SET meta = ? WHERE id = ?`, encJSON(merged), conv.ID); err != nil {
				return fmt.Errorf("store: update meta of %d: %w", conv.ID, err)
			}
			conv.Meta = merged
		}
		m := concierge.Message{
			ConversationID: conv.ID, Sender: concierge.SenderUser, SenderName: contact.Name,
			Text: in.Text, Payload: in.StoredPayload(), Attachments: in.Attachments,
			ExternalID: in.MessageID, Edited: in.Edited, CreatedAt: in.ReceivedAt.UTC(),
		}
		prev := conv.LastUserSeq
		if err := insertMessage(ctx, tx, &conv, &m, false, now); err != nil {
			return err
		}
		out.Contact, out.Conversation, out.Message, out.PrevUserSeq = contact, conv, m, prev
		return nil
	})
	if errors.Is(err, errDuplicate) {
		// Everything the write did was rolled back; report the copy stored earlier.
		return s.duplicate(ctx, in)
	}
	if err != nil {
		return Received{}, fmt.Errorf("store: receive on %s: %w", in.Channel, err)
	}
	return out, nil
}

// insertID runs an INSERT and returns the new row's id.
func insertID(ctx context.Context, tx *Tx, q string, args ...any) (int64, error) {
	res, err := tx.ExecContext(ctx, q, args...)
	if err != nil {
		return 0, err
	}
	return res.LastInsertId()
}

// errDuplicate aborts a write whose message the channel delivered before.
var errDuplicate = errors.New("store: duplicate delivery")

func (s *Store) duplicate(ctx context.Context, in concierge.Inbound) (Received, error) {
	m, err := scanMessage(s.r.QueryRowContext(ctx, `SELECT `+messageCols+` FROM messages WHERE channel = ? AND external_id = ?`,
		in.Channel, in.MessageID))
	if err != nil {
		return Received{}, fmt.Errorf("store: receive duplicate %s on %s: %w", in.MessageID, in.Channel, err)
	}
	conv, err := s.Conversation(ctx, m.ConversationID)
	if err != nil {
		return Received{}, fmt.Errorf("store: receive duplicate on %s: %w", in.Channel, err)
	}
	contact, err := s.Contact(ctx, conv.ContactID)
	if err != nil {
		return Received{}, fmt.Errorf("store: receive duplicate on %s: %w", in.Channel, err)
	}
	return Received{Contact: contact, Conversation: conv, Message: m, Duplicate: true}, nil
}

func upsertContact(ctx context.Context, tx *Tx, channel, externalID string, p concierge.Profile, now time.Time) (concierge.Contact, error) {
	c, err := scanContact(tx.QueryRowContext(ctx, `SELECT `+contactCols+` FROM contacts WHERE channel = ? AND external_id = ?`, channel, externalID))
	if errors.Is(err, concierge.ErrNotFound) {
		c = concierge.Contact{Channel: channel, ExternalID: externalID, Name: p.Name, Email: p.Email,
			Verified: p.Verified, Attributes: p.Attributes, CreatedAt: now.UTC(), UpdatedAt: now.UTC()}
		c.ID, err = insertID(ctx, tx, `INSERT INTO contacts (channel, external_id, name, email, verified, attributes, created_at, updated_at)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
			channel, externalID, p.Name, p.Email, p.Verified, encJSON(p.Attributes), ms(now), ms(now))
		if err != nil {
			return c, fmt.Errorf("store: create contact: %w", err)
		}
		return c, nil
	}
	if err != nil {
		return c, err
	}
	if !c.MergeProfile(p) && !c.Unreachable {
		return c, nil
	}
	c.Unreachable, c.UnreachableReason, c.UpdatedAt = false, "", now.UTC()
	_, err = tx.ExecContext(ctx, `UPDATE contacts SET name = ?, email = ?, verified = ?, attributes = ?,
		unreachable = 0, unreachable_reason = '', updated_at = ? WHERE id = ?`,
		c.Name, c.Email, c.Verified, encJSON(c.Attributes), ms(now), c.ID)
	if err != nil {
		return c, fmt.Errorf("store: update contact %d: %w", c.ID, err)
	}
	return c, nil
}

func insertConversation(ctx context.Context, tx *Tx, contact concierge.Contact, meta map[string]string, now time.Time) (concierge.Conversation, error) {
	conv := concierge.Conversation{ContactID: contact.ID, Channel: contact.Channel, Status: concierge.StatusBot,
		Meta: meta, CreatedAt: now.UTC(), UpdatedAt: now.UTC()}
	var err error
	conv.ID, err = insertID(ctx, tx, `INSERT INTO conversations (contact_id, channel, status, meta, created_at, updated_at)
		VALUES (?, ?, 'bot', ?, ?, ?)`, contact.ID, contact.Channel, encJSON(meta), ms(now), ms(now))
	if err != nil {
		return conv, fmt.Errorf("store: create conversation for contact %d: %w", contact.ID, err)
	}
	return conv, nil
}

// insertMessage gives m the conversation's next sequence number and stores it, with an
// outbox row when it must be delivered. It updates conv and m in place.
func insertMessage(ctx context.Context, tx *Tx, conv *concierge.Conversation, m *concierge.Message, outbox bool, now time.Time) error {
	// RETURNING costs SQLite several times the statement itself, so the hot path reads
	// the sequence from conv (loaded in this same write transaction) and the id from
	// LastInsertId; the last_seq guard turns a stale conv into an error, never a gap.
	m.Seq = conv.LastSeq + 1
	q := `UPDATE conversations SET last_seq = ?, updated_at = ? WHERE id = ? AND last_seq = ?`
	if m.Sender == concierge.SenderUser {
		q = `UPDATE conversations SET last_seq = ?, last_user_seq = last_seq + 1, updated_at = ? WHERE id = ? AND last_seq = ?`
	}
	res, err := tx.ExecContext(ctx, q, m.Seq, ms(now), conv.ID, conv.LastSeq)
	if err != nil {
		return fmt.Errorf("store: append to conversation %d: %w", conv.ID, err)
	}
	if n, _ := res.RowsAffected(); n != 1 {
		return fmt.Errorf("store: append to conversation %d at seq %d: %w", conv.ID, m.Seq, concierge.ErrConflict)
	}
	if m.CreatedAt.IsZero() {
		m.CreatedAt = now.UTC()
	}
	m.ConversationID = conv.ID
	var ext any
	if m.ExternalID != "" {
		ext = m.ExternalID
	}
	res, err = tx.ExecContext(ctx, `INSERT INTO messages (conversation_id, seq, sender, sender_id, sender_name, text, html,
		attachments, quick_replies, payload, channel, external_id, internal, edited, created_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (channel, external_id) DO NOTHING`,
		conv.ID, m.Seq, m.Sender, m.SenderID, m.SenderName, m.Text, m.HTML,
		nullJSON(m.Attachments), nullJSON(m.QuickReplies), m.Payload, conv.Channel, ext, m.Internal, m.Edited,
		ms(m.CreatedAt))
	if err != nil {
		return fmt.Errorf("store: insert message into conversation %d: %w", conv.ID, err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return errDuplicate
	}
	if m.ID, err = res.LastInsertId(); err != nil {
		return fmt.Errorf("store: insert message into conversation %d: %w", conv.ID, err)
	}
	conv.LastSeq = m.Seq
	if m.Sender == concierge.SenderUser {
		conv.LastUserSeq = m.Seq
	}
	conv.UpdatedAt = now.UTC()
	if outbox {
		_, err = tx.ExecContext(ctx, `INSERT INTO outbox (message_id, conversation_id, channel, next_attempt_at, updated_at)
			VALUES (?, ?, ?, ?, ?)`, m.ID, conv.ID, conv.Channel, ms(now), ms(now))
		if err != nil {
			return fmt.Errorf("store: queue message %d for delivery: %w", m.ID, err)
		}
	}
	return nil
}

// Append stores a bot, agent or system message in a conversation. With outbox set, a
// delivery row is written in the same transaction, so the message is sent even if the
// process stops right after this returns.
func (s *Store) Append(ctx context.Context, convID int64, out concierge.Outgoing, outbox bool) (concierge.Message, error) {
	if !out.Sender.Valid() || out.Sender == concierge.SenderUser {
		return concierge.Message{}, fmt.Errorf("store: append to %d: %w", convID, concierge.Invalidf("sender %q cannot append", out.Sender))
	}
	var m concierge.Message
	err := s.Write(ctx, func(ctx context.Context, tx *Tx) error {
		conv, err := conversationTx(ctx, tx, convID)
		if err != nil {
			return err
		}
		m = outgoingMessage(out)
		return insertMessage(ctx, tx, &conv, &m, outbox && !out.Internal, s.now())
	})
	if err != nil {
		return concierge.Message{}, fmt.Errorf("store: append to %d: %w", convID, err)
	}
	return m, nil
}

func outgoingMessage(out concierge.Outgoing) concierge.Message {
	return concierge.Message{Sender: out.Sender, SenderID: out.SenderID, SenderName: out.SenderName,
		Text: out.Text, HTML: out.HTML, Attachments: out.Attachments, QuickReplies: out.QuickReplies,
		Internal: out.Internal}
}

// Turn is the outcome of one routed user message: what the bot replied and decided.
type Turn struct {
	ConversationID int64
	// MessageID and Seq identify the user message the turn answers.
	MessageID int64
	Seq       int64
	Reply     concierge.Reply
	// Outbox: the channel needs delivery rows (false for channels whose clients read the store).
	Outbox bool
}

// ApplyTurn records, in one transaction, everything a bot turn produced: the reply
// messages (with delivery rows), the language, collected details and bot memory, the
// decision, the routed sequence number, and, when the bot escalated, the pending
// escalation the handoff will enqueue. It returns the stored messages and the
// conversation as it now stands.
func (s *Store) ApplyTurn(ctx context.Context, t Turn) ([]concierge.Message, concierge.Conversation, error) {
	var msgs []concierge.Message
	var conv concierge.Conversation
	err := s.Write(ctx, func(ctx context.Context, tx *Tx) error {
		var err error
		msgs = msgs[:0]
		conv, err = conversationTx(ctx, tx, t.ConversationID)
		if err != nil {
			return err
		}
		now := s.now()
		r := t.Reply
		if r.Language != "" {
			conv.Language = r.Language
		}
		if len(r.Details) > 0 {
			if conv.Details == nil {
				conv.Details = map[string]string{}
			}
			maps.Copy(conv.Details, r.Details)
		}
		if r.BotState != nil {
			conv.BotState = r.BotState
		}
		if t.Seq > conv.HandledSeq {
			conv.HandledSeq = t.Seq
		}
		var pending any
		if r.Escalation != nil && conv.Status == concierge.StatusBot {
			pending = r.Escalation.JSON()
		}
		closedAt := sql.NullInt64{}
		if r.Resolved && conv.Status == concierge.StatusBot {
			conv.Status = concierge.StatusClosed
			closedAt = sql.NullInt64{Int64: ms(now), Valid: true}
			conv.ClosedAt = fromNullMS(closedAt)
		}
		_, err = tx.ExecContext(ctx, `UPDATE conversations SET language = ?, details = ?, bot_state = ?, handled_seq = ?,
			pending_escalation = COALESCE(?, pending_escalation), status = ?, closed_at = COALESCE(?, closed_at), updated_at = ?
			WHERE id = ?`, conv.Language, encJSON(conv.Details), nullBytes(conv.BotState), conv.HandledSeq,
			pending, conv.Status, closedAt, ms(now), conv.ID)
		if err != nil {
			return fmt.Errorf("store: apply turn to %d: %w", conv.ID, err)
		}
		for _, out := range r.Messages {
			m := outgoingMessage(out)
			if err := insertMessage(ctx, tx, &conv, &m, t.Outbox && !out.Internal, now); err != nil {
				return err
			}
			msgs = append(msgs, m)
		}
		if d := r.Decision; d.Action != "" {
			_, err = tx.ExecContext(ctx, `INSERT INTO decisions (conversation_id, message_id, action, article_id, score, reason,
				query, language, gap, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
				conv.ID, t.MessageID, d.Action, d.ArticleID, d.Score, d.Reason, d.Query, d.Language, d.Gap, ms(now))
			if err != nil {
				return fmt.Errorf("store: record decision for %d: %w", conv.ID, err)
			}
		}
		return nil
	})
	if err != nil {
		return nil, concierge.Conversation{}, fmt.Errorf("store: apply turn: %w", err)
	}
	return msgs, conv, nil
}

// MarkHandled records that the gateway routed the conversation's messages up to seq.
func (s *Store) MarkHandled(ctx context.Context, convID, seq int64) error {
	err := s.Write(ctx, func(ctx context.Context, tx *Tx) error {
		_, err := tx.ExecContext(ctx, `UPDATE conversations SET handled_seq = ? WHERE id = ? AND handled_seq < ?`, seq, convID, seq)
		return err
	})
	if err != nil {
		return fmt.Errorf("store: mark %d handled to %d: %w", convID, seq, err)
	}
	return nil
}

// Unrouted lists conversations with work left over from a stop: user messages not yet
// routed, or an escalation decided but not yet enqueued.
func (s *Store) Unrouted(ctx context.Context) ([]int64, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT id FROM conversations
		WHERE status <> 'closed' AND (last_user_seq > handled_seq OR (status = 'bot' AND pending_escalation IS NOT NULL))
		ORDER BY id`)
	if err != nil {
		return nil, fmt.Errorf("store: unrouted conversations: %w", err)
	}
	defer rows.Close()
	var ids []int64
	for rows.Next() {
		var id int64
		if err := rows.Scan(&id); err != nil {
			return nil, fmt.Errorf("store: unrouted conversations: %w", err)
		}
		ids = append(ids, id)
	}
	return ids, rows.Err()
}

// Conversation returns one conversation.
func (s *Store) Conversation(ctx context.Context, id int64) (concierge.Conversation, error) {
	c, err := scanConversation(s.r.QueryRowContext(ctx, `SELECT `+conversationCols+` FROM conversations WHERE id = ?`, id))
	if err != nil {
		return c, fmt.Errorf("store: conversation %d: %w", id, err)
	}
	return c, nil
}

func conversationTx(ctx context.Context, tx *Tx, id int64) (concierge.Conversation, error) {
	c, err := scanConversation(tx.QueryRowContext(ctx, `SELECT `+conversationCols+` FROM conversations WHERE id = ?`, id))
	if err != nil {
		return c, fmt.Errorf("store: conversation %d: %w", id, err)
	}
	return c, nil
}

// LatestConversation returns the contact's newest conversation, open or not.
func (s *Store) LatestConversation(ctx context.Context, contactID int64) (concierge.Conversation, error) {
	c, err := scanConversation(s.r.QueryRowContext(ctx,
		`SELECT `+conversationCols+` FROM conversations WHERE contact_id = ? ORDER BY id DESC LIMIT 1`, contactID))
	if err != nil {
		return c, fmt.Errorf("store: latest conversation of contact %d: %w", contactID, err)
	}
	return c, nil
}

// ContactConversations lists a contact's conversations, newest first.
func (s *Store) ContactConversations(ctx context.Context, contactID int64, limit int) ([]concierge.Conversation, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT `+conversationCols+` FROM conversations WHERE contact_id = ? ORDER BY id DESC LIMIT ?`, contactID, limit)
	if err != nil {
		return nil, fmt.Errorf("store: conversations of contact %d: %w", contactID, err)
	}
	defer rows.Close()
	var out []concierge.Conversation
	for rows.Next() {
		c, err := scanConversation(rows)
		if err != nil {
			return nil, fmt.Errorf("store: conversations of contact %d: %w", contactID, err)
		}
		out = append(out, c)
	}
	return out, rows.Err()
}

// Messages returns up to limit messages of a conversation with a sequence number above
// afterSeq, oldest first. Internal notes are included only when withInternal is set.
func (s *Store) Messages(ctx context.Context, convID, afterSeq int64, limit int, withInternal bool) ([]concierge.Message, error) {
	q := `SELECT ` + messageCols + ` FROM messages WHERE conversation_id = ? AND seq > ?`
	if !withInternal {
		q += ` AND internal = 0`
	}
	rows, err := s.r.QueryContext(ctx, q+` ORDER BY seq LIMIT ?`, convID, afterSeq, limit)
	if err != nil {
		return nil, fmt.Errorf("store: messages of %d: %w", convID, err)
	}
	return collectMessages(rows, convID)
}

// UserMessages returns up to limit customer messages after afterSeq, oldest first.
func (s *Store) UserMessages(ctx context.Context, convID, afterSeq int64, limit int) ([]concierge.Message, error) {
	rows, err := s.r.QueryContext(ctx, userMessagesSQL, convID, afterSeq, limit)
	if err != nil {
		return nil, fmt.Errorf("store: user messages of %d: %w", convID, err)
	}
	return collectMessages(rows, convID)
}

// RecentMessages returns the last n customer-visible messages of a conversation, oldest first.
func (s *Store) RecentMessages(ctx context.Context, convID int64, n int) ([]concierge.Message, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT * FROM (SELECT `+messageCols+` FROM messages
		WHERE conversation_id = ? AND internal = 0 ORDER BY seq DESC LIMIT ?) AS recent ORDER BY seq`, convID, n)
	if err != nil {
		return nil, fmt.Errorf("store: recent messages of %d: %w", convID, err)
	}
	return collectMessages(rows, convID)
}

// The two reads of customer messages on every bot turn, both served by the
// messages_customer index (migration 0700). internal = 0 holds for every customer
// message; it is spelled out so that SQLite may use that partial index. INDEXED BY
// because without statistics SQLite takes the (conversation_id, seq) key instead, which
// reads every row in between.
const (
	userMessagesSQL = `SELECT ` + messageCols + ` FROM messages INDEXED BY messages_customer
		WHERE conversation_id = ? AND seq > ? AND sender = 'user' AND internal = 0 ORDER BY seq LIMIT ?`
	customerHistorySQL = `SELECT id, seq, text FROM messages INDEXED BY messages_customer
		WHERE conversation_id = ? AND seq <= ? AND sender = 'user' AND internal = 0 ORDER BY seq DESC LIMIT ?`
)

// CustomerHistory returns the customer's last n messages up to and including seq,
// oldest first: what the bot looks back at (repeats, details given earlier). Bot and
// agent messages are left out; their rendered text is most of a transcript's bytes and
// the bot keeps its own memory. Only ID, ConversationID, Seq, Sender and Text are set:
// those are read from the messages_customer index alone, without the table's rows.
func (s *Store) CustomerHistory(ctx context.Context, convID, seq int64, n int) ([]concierge.Message, error) {
	rows, err := s.r.QueryContext(ctx, customerHistorySQL, convID, seq, n)
	if err != nil {
		return nil, fmt.Errorf("store: customer history of %d: %w", convID, err)
	}
	defer rows.Close()
	var out []concierge.Message
	for rows.Next() {
		m := concierge.Message{ConversationID: convID, Sender: concierge.SenderUser}
		if err := rows.Scan(&m.ID, &m.Seq, &m.Text); err != nil {
			return nil, fmt.Errorf("store: customer history of %d: %w", convID, err)
		}
		out = append(out, m)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: customer history of %d: %w", convID, err)
	}
	slices.Reverse(out)
	return out, nil
}

// Message returns one message by id.
func (s *Store) Message(ctx context.Context, id int64) (concierge.Message, error) {
	m, err := scanMessage(s.r.QueryRowContext(ctx, `SELECT `+messageCols+` FROM messages WHERE id = ?`, id))
	if err != nil {
		return m, fmt.Errorf("store: message %d: %w", id, err)
	}
	return m, nil
}

func collectMessages(rows *sql.Rows, convID int64) ([]concierge.Message, error) {
	defer rows.Close()
	var out []concierge.Message
	for rows.Next() {
		m, err := scanMessage(rows)
		if err != nil {
			return nil, fmt.Errorf("store: messages of %d: %w", convID, err)
		}
		out = append(out, m)
	}
	return out, rows.Err()
}

// MergeConversationMeta adds keys to a conversation's Meta.
func (s *Store) MergeConversationMeta(ctx context.Context, convID int64, meta map[string]string) error {
	err := s.Write(ctx, func(ctx context.Context, tx *Tx) error {
		conv, err := conversationTx(ctx, tx, convID)
		if err != nil {
			return err
		}
		if conv.Meta == nil {
			conv.Meta = map[string]string{}
		}
		maps.Copy(conv.Meta, meta)
		_, err = tx.ExecContext(ctx, `UPDATE conversations SET meta = ? WHERE id = ?`, encJSON(conv.Meta), convID)
		return err
	})
	if err != nil {
		return fmt.Errorf("store: merge meta of %d: %w", convID, err)
	}
	return nil
}

const conversationCols = `id, contact_id, channel, status, team, priority, language, details, meta, assignee_id,
	last_seq, last_user_seq, handled_seq, bot_state, pending_escalation, csat_pending, created_at, updated_at, closed_at`

type scanner interface{ Scan(dest ...any) error }

func scanConversation(row scanner) (concierge.Conversation, error) {
	var c concierge.Conversation
	var details, meta string
	var botState, pending sql.NullString
	var created, updated int64
	var closed sql.NullInt64
	err := row.Scan(&c.ID, &c.ContactID, &c.Channel, &c.Status, &c.Team, &c.Priority, &c.Language, &details, &meta,
		&c.AssigneeID, &c.LastSeq, &c.LastUserSeq, &c.HandledSeq, &botState, &pending, &c.CSATPending, &created, &updated, &closed)
	if errors.Is(err, sql.ErrNoRows) {
		return c, concierge.ErrNotFound
	}
	if err != nil {
		return c, err
	}
	decJSON(details, &c.Details)
	decJSON(meta, &c.Meta)
	if botState.Valid {
		c.BotState = []byte(botState.String)
	}
	if pending.Valid {
		var e concierge.Escalation
		if json.Unmarshal([]byte(pending.String), &e) == nil {
			c.PendingEscalation = &e
		}
	}
	c.CreatedAt, c.UpdatedAt, c.ClosedAt = fromMS(created), fromMS(updated), fromNullMS(closed)
	return c, nil
}

const messageCols = `id, conversation_id, seq, sender, sender_id, sender_name, text, html, attachments, quick_replies,
	payload, external_id, internal, edited, created_at`

// scanMessage reads messageCols; lead receives columns selected before them.
func scanMessage(row scanner, lead ...any) (concierge.Message, error) {
	var m concierge.Message
	var atts, qrs, ext sql.NullString
	var created int64
	err := row.Scan(append(lead, &m.ID, &m.ConversationID, &m.Seq, &m.Sender, &m.SenderID, &m.SenderName, &m.Text, &m.HTML,
		&atts, &qrs, &m.Payload, &ext, &m.Internal, &m.Edited, &created)...)
	if errors.Is(err, sql.ErrNoRows) {
		return m, concierge.ErrNotFound
	}
	if err != nil {
		return m, err
	}
	if atts.Valid {
		decJSON(atts.String, &m.Attachments)
	}
	if qrs.Valid {
		decJSON(qrs.String, &m.QuickReplies)
	}
	m.ExternalID = ext.String
	m.CreatedAt = fromMS(created)
	return m, nil
}

// encJSON encodes maps and slices of plain values, which cannot fail.
func encJSON(v any) string {
	b, _ := json.Marshal(v)
	if string(b) == "null" {
		return "{}"
	}
	return string(b)
}

// nullJSON stores an empty slice as NULL to keep message rows small.
func nullJSON[T any](v []T) any {
	if len(v) == 0 {
		return nil
	}
	b, _ := json.Marshal(v)
	return string(b)
}

func nullBytes(b []byte) any {
	if b == nil {
		return nil
	}
	return string(b)
}

// decJSON decodes a column written by encJSON; a damaged value leaves v empty rather than
// failing a read of the whole conversation.
func decJSON(s string, v any) {
	if s == "" || s == "{}" {
		return
	}
	_ = json.Unmarshal([]byte(s), v)
}
