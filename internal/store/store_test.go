package store

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/rs/zerolog"

	"github.com/conciergehq/concierge"
)

func openTest(t testing.TB, path string) *Store {
	t.Helper()
	if path == "" {
		path = filepath.Join(t.TempDir(), "test.db")
	}
	s, err := Open(context.Background(), path, zerolog.New(zerolog.NewTestWriter(t)), Options{})
	if err != nil {
		t.Fatalf("open store: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func TestMigrationsApplyToAFreshFileAndOnlyOnce(t *testing.T) {
	path := filepath.Join(t.TempDir(), "fresh.db")
	s := openTest(t, path)
	ctx := context.Background()
	v, err := s.SchemaVersion(ctx)
	if err != nil || v == "" {
		t.Fatalf("schema version after first open = %q, %v; want the newest migration", v, err)
	}
	var tables int
	if err := s.r.QueryRowContext(ctx, `SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name IN
		('contacts', 'conversations', 'messages', 'outbox', 'dedupe', 'channel_state', 'decisions')`).Scan(&tables); err != nil {
		t.Fatal(err)
	}
	if tables != 7 {
		t.Fatalf("found %d of the 7 core tables", tables)
	}
	if _, err := s.Receive(ctx, concierge.Inbound{Channel: "web", ContactID: "v1", Text: "hello"}); err != nil {
		t.Fatal(err)
	}
	s.Close()
	// Reopening must not re-run migrations (they would fail on existing tables) and keeps data.
	s2 := openTest(t, path)
	var journal string
	if err := s2.w.QueryRow(`PRAGMA journal_mode`).Scan(&journal); err != nil || journal != "wal" {
		t.Fatalf("journal mode %q, %v; want wal", journal, err)
	}
	var fk int
	if err := s2.w.QueryRow(`PRAGMA foreign_keys`).Scan(&fk); err != nil || fk != 1 {
		t.Fatalf("foreign_keys %d, %v; want 1", fk, err)
	}
	c, err := s2.ContactByExternal(ctx, "web", "v1")
	if err != nil || c.ID == 0 {
		t.Fatalf("contact after reopen: %+v, %v", c, err)
	}
}

func TestReceiveDedupesOnChannelMessageID(t *testing.T) {
	s := openTest(t, "")
	ctx := context.Background()
	in := concierge.Inbound{Channel: "telegram:bot", ContactID: "42", MessageID: "1001", Text: "hi"}
	first, err := s.Receive(ctx, in)
	if err != nil || first.Duplicate {
		t.Fatalf("first delivery: %+v, %v", first, err)
	}
	again, err := s.Receive(ctx, in)
	if err != nil {
		t.Fatal(err)
	}
	if !again.Duplicate || again.Message.ID != first.Message.ID {
		t.Fatalf("second delivery: duplicate=%v id=%d, want duplicate of %d", again.Duplicate, again.Message.ID, first.Message.ID)
	}
	// The same id on another channel is another message.
	other := in
	other.Channel = "telegram:otherbot"
	o, err := s.Receive(ctx, other)
	if err != nil || o.Duplicate {
		t.Fatalf("same id on another channel: duplicate=%v, %v", o.Duplicate, err)
	}
	msgs, err := s.Messages(ctx, first.Conversation.ID, 0, 10, true)
	if err != nil || len(msgs) != 1 {
		t.Fatalf("conversation holds %d messages (%v), want 1", len(msgs), err)
	}
}

func TestConcurrentWritesKeepPerConversationOrderWithoutGaps(t *testing.T) {
	s := openTest(t, "")
	ctx := context.Background()
	const visitors, each = 8, 50
	var wg sync.WaitGroup
	errs := make(chan error, visitors)
	for v := 0; v < visitors; v++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < each; i++ {
				in := concierge.Inbound{Channel: "web", ContactID: fmt.Sprintf("v%d", v), MessageID: fmt.Sprintf("v%d-%d", v, i),
					Text: fmt.Sprintf("message %d", i)}
				if _, err := s.Receive(ctx, in); err != nil {
					errs <- err
					return
				}
				if i%10 == 0 {
					rec, _ := s.Receive(ctx, in) // a redelivery in between must not take a sequence number
					if !rec.Duplicate {
						errs <- fmt.Errorf("redelivery of %s not flagged", in.MessageID)
						return
					}
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	for v := 0; v < visitors; v++ {
		c, err := s.ContactByExternal(ctx, "web", fmt.Sprintf("v%d", v))
		if err != nil {
			t.Fatal(err)
		}
		conv, err := s.LatestConversation(ctx, c.ID)
		if err != nil {
			t.Fatal(err)
		}
		msgs, err := s.Messages(ctx, conv.ID, 0, 1000, true)
		if err != nil {
			t.Fatal(err)
		}
		if len(msgs) != each {
			t.Fatalf("visitor %d: %d messages, want %d", v, len(msgs), each)
		}
		for i, m := range msgs {
			if m.Seq != int64(i+1) || m.Text != fmt.Sprintf("message %d", i) {
				t.Fatalf("visitor %d message %d: seq %d text %q; want seq %d in send order", v, i, m.Seq, m.Text, i+1)
			}
		}
	}
}

func TestFailingWriteDoesNotUndoItsBatch(t *testing.T) {
	s := openTest(t, "")
	ctx := context.Background()
	rec, err := s.Receive(ctx, concierge.Inbound{Channel: "web", ContactID: "v", Text: "hi"})
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	results := make([]error, 40)
	for i := range results {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if i%4 == 0 {
				_, results[i] = s.Append(ctx, 999999, concierge.Outgoing{Sender: concierge.SenderBot, Text: "to nowhere"}, true)
				return
			}
			_, results[i] = s.Append(ctx, rec.Conversation.ID, concierge.Outgoing{Sender: concierge.SenderBot, Text: "ok"}, true)
		}()
	}
	wg.Wait()
	for i, err := range results {
		if i%4 == 0 && !errors.Is(err, concierge.ErrNotFound) {
			t.Fatalf("write %d to a missing conversation: %v, want ErrNotFound", i, err)
		}
		if i%4 != 0 && err != nil {
			t.Fatalf("write %d failed with its neighbour: %v", i, err)
		}
	}
	msgs, _ := s.Messages(ctx, rec.Conversation.ID, 0, 100, true)
	if len(msgs) != 1+30 {
		t.Fatalf("%d messages stored, want 31", len(msgs))
	}
	pending, _ := s.PendingOutbox(ctx, 100)
	if len(pending) != 30 {
		t.Fatalf("%d outbox rows, want 30", len(pending))
	}
}

func TestClosedConversationTakesOnlyItsRatingThenANewOneStarts(t *testing.T) {
	s := openTest(t, "")
	ctx := context.Background()
	rec, _ := s.Receive(ctx, concierge.Inbound{Channel: "web", ContactID: "v", Text: "help"})
	if _, err := s.w.Exec(`UPDATE conversations SET status = 'closed', csat_pending = 1 WHERE id = ?`, rec.Conversation.ID); err != nil {
		t.Fatal(err)
	}
	rating, err := s.Receive(ctx, concierge.Inbound{Channel: "web", ContactID: "v", Text: "5 thanks!"})
	if err != nil || !rating.Rating || rating.Conversation.ID != rec.Conversation.ID {
		t.Fatalf("rating went to conversation %d (rating=%v, %v), want %d", rating.Conversation.ID, rating.Rating, err, rec.Conversation.ID)
	}
	next, err := s.Receive(ctx, concierge.Inbound{Channel: "web", ContactID: "v", Text: "another question"})
	if err != nil || !next.Started || next.Conversation.ID == rec.Conversation.ID {
		t.Fatalf("a new question after closing: started=%v conversation=%d (%v), want a new conversation", next.Started, next.Conversation.ID, err)
	}
	old, _ := s.Conversation(ctx, rec.Conversation.ID)
	if old.CSATPending {
		t.Fatal("survey still pending after the customer moved on")
	}
}

func TestApplyTurnRecordsEverythingAtOnce(t *testing.T) {
	s := openTest(t, "")
	ctx := context.Background()
	rec, _ := s.Receive(ctx, concierge.Inbound{Channel: "telegram:b", ContactID: "1", Text: "my order 12345 is late"})
	msgs, conv, err := s.ApplyTurn(ctx, Turn{ConversationID: rec.Conversation.ID, MessageID: rec.Message.ID, Seq: rec.Message.Seq,
		Outbox: true, Reply: concierge.Reply{
			Messages:   []concierge.Outgoing{{Sender: concierge.SenderBot, Text: "Connecting you to a person."}},
			Language:   "en",
			Details:    map[string]string{"order_number": "12345"},
			BotState:   []byte(`{"asked":[]}`),
			Decision:   concierge.Decision{Action: "escalate", Reason: "article_escalates", Query: "my order"},
			Escalation: &concierge.Escalation{Reason: "article_escalates", Team: "billing"},
		}})
	if err != nil {
		t.Fatal(err)
	}
	if len(msgs) != 1 || msgs[0].Seq != 2 {
		t.Fatalf("reply messages %+v, want one at seq 2", msgs)
	}
	if conv.HandledSeq != 1 || conv.Language != "en" || conv.Details["order_number"] != "12345" {
		t.Fatalf("conversation after turn: %+v", conv)
	}
	stored, _ := s.Conversation(ctx, conv.ID)
	if stored.PendingEscalation == nil || stored.PendingEscalation.Team != "billing" || string(stored.BotState) != `{"asked":[]}` {
		t.Fatalf("stored conversation lacks the pending escalation or bot state: %+v", stored)
	}
	ids, _ := s.Unrouted(ctx)
	if len(ids) != 1 || ids[0] != conv.ID {
		t.Fatalf("unrouted = %v, want the conversation with a pending escalation", ids)
	}
	pending, _ := s.PendingOutbox(ctx, 10)
	if len(pending) != 1 || pending[0].Message.Text != "Connecting you to a person." {
		t.Fatalf("outbox = %+v", pending)
	}
	var decisions int
	s.r.QueryRow(`SELECT COUNT(*) FROM decisions WHERE conversation_id = ? AND action = 'escalate'`, conv.ID).Scan(&decisions)
	if decisions != 1 {
		t.Fatalf("%d decisions recorded, want 1", decisions)
	}
}

func TestExplicitActionsAreStoredWithTheMessage(t *testing.T) {
	s := openTest(t, "")
	rec, err := s.Receive(context.Background(), concierge.Inbound{Channel: "telegram:b", ContactID: "1", Text: "/human", Action: concierge.ActionHuman})
	if err != nil {
		t.Fatal(err)
	}
	m, _ := s.Message(context.Background(), rec.Message.ID)
	if m.Action() != concierge.ActionHuman {
		t.Fatalf("stored message action %q (payload %q), want human", m.Action(), m.Payload)
	}
}

func TestBackupIsACompleteDatabase(t *testing.T) {
	s := openTest(t, "")
	ctx := context.Background()
	if _, err := s.Receive(ctx, concierge.Inbound{Channel: "web", ContactID: "v", Text: "keep me"}); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "backup.db")
	if err := s.Backup(ctx, path); err != nil {
		t.Fatal(err)
	}
	if err := s.Backup(ctx, path); err == nil {
		t.Fatal("backup over an existing file succeeded")
	}
	b := openTest(t, path)
	c, err := b.ContactByExternal(ctx, "web", "v")
	if err != nil {
		t.Fatal(err)
	}
	conv, _ := b.LatestConversation(ctx, c.ID)
	msgs, _ := b.Messages(ctx, conv.ID, 0, 10, true)
	if len(msgs) != 1 || msgs[0].Text != "keep me" {
		t.Fatalf("backup holds %+v", msgs)
	}
}

// The bot's look back: the customer's own messages only, the newest n up to the one
// being answered, oldest first.
func TestCustomerHistoryIsTheCustomersLastMessagesUpToSeq(t *testing.T) {
	s := openTest(t, "")
	ctx := context.Background()
	var convID int64
	for i := 1; i <= 4; i++ {
		rec, err := s.Receive(ctx, concierge.Inbound{Channel: "web", ContactID: "v", Text: fmt.Sprintf("question %d", i)})
		if err != nil {
			t.Fatal(err)
		}
		convID = rec.Conversation.ID
		if _, err := s.Append(ctx, convID, concierge.Outgoing{Sender: concierge.SenderBot, Text: "an answer"}, false); err != nil {
			t.Fatal(err)
		}
	}
	// Seqs: 1 q1, 2 bot, 3 q2, 4 bot, 5 q3, 6 bot, 7 q4, 8 bot.
	got, err := s.CustomerHistory(ctx, convID, 5, 2)
	if err != nil {
		t.Fatal(err)
	}
	var texts []string
	for _, m := range got {
		texts = append(texts, m.Text)
	}
	if fmt.Sprint(texts) != "[question 2 question 3]" {
		t.Fatalf("history up to seq 5, last 2: %v", texts)
	}
}

// Routing and the bot read a conversation's customer messages on every turn; both reads
// must find them in messages_customer, the history without touching the table (see
// migration 0700 for why that matters under load).
func TestCustomerMessagesAreReadFromTheirIndex(t *testing.T) {
	s := openTest(t, "")
	for _, c := range []struct{ name, query, want string }{
		{"UserMessages", userMessagesSQL, "USING INDEX messages_customer"},
		{"CustomerHistory", customerHistorySQL, "USING COVERING INDEX messages_customer"},
	} {
		rows, err := s.r.QueryContext(context.Background(), "EXPLAIN QUERY PLAN "+c.query, 1, 1, 10)
		if err != nil {
			t.Fatal(err)
		}
		var plan []string
		for rows.Next() {
			var id, parent, unused int
			var detail string
			if err := rows.Scan(&id, &parent, &unused, &detail); err != nil {
				t.Fatal(err)
			}
			plan = append(plan, detail)
		}
		rows.Close()
		if len(plan) != 1 || !strings.Contains(plan[0], c.want) {
			t.Errorf("%s: plan %q, want one step %s", c.name, plan, c.want)
		}
	}
}

// Receive reports the customer's previous message and keeps LastUserSeq on the newest,
// edits included: the gateway routes from them without reading messages back.
func TestReceiveTracksTheCustomersNewestMessage(t *testing.T) {
	s := openTest(t, "")
	ctx := context.Background()
	receive := func(id, text string, edited bool) Received {
		t.Helper()
		rec, err := s.Receive(ctx, concierge.Inbound{Channel: "web", ContactID: "v", MessageID: id, Text: text, Edited: edited})
		if err != nil {
			t.Fatal(err)
		}
		return rec
	}
	first := receive("m1", "hello", false)
	if _, err := s.Append(ctx, first.Conversation.ID, concierge.Outgoing{Sender: concierge.SenderBot, Text: "hi"}, false); err != nil {
		t.Fatal(err)
	}
	second := receive("m2", "where is my order", false)
	edit := receive("m3", "where is my order 12345", true)
	for _, c := range []struct {
		name      string
		rec       Received
		seq, prev int64
	}{{"first", first, 1, 0}, {"second", second, 3, 1}, {"edit", edit, 4, 3}} {
		if c.rec.Message.Seq != c.seq || c.rec.PrevUserSeq != c.prev || c.rec.Conversation.LastUserSeq != c.seq {
			t.Errorf("%s: seq %d, previous %d, conversation's newest %d; want %d, %d, %d", c.name, c.rec.Message.Seq,
				c.rec.PrevUserSeq, c.rec.Conversation.LastUserSeq, c.seq, c.prev, c.seq)
		}
	}
	if conv, err := s.Conversation(ctx, first.Conversation.ID); err != nil || conv.LastUserSeq != 4 {
		t.Errorf("stored newest customer message %d, %v; want 4", conv.LastUserSeq, err)
	}
}
