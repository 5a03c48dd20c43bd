package store

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/conciergehq/concierge"
)

func TestTelegramInboxKeepsUpdatesOnceAndMovesTheOffsetWithThem(t *testing.T) {
	s := openTest(t, "")
	ctx := context.Background()
	ch := "telegram:b"
	n, err := s.TelegramEnqueue(ctx, ch, []TelegramUpdate{{UpdateID: 10, ChatID: 7, Body: []byte(`{"update_id":10}`)},
		{UpdateID: 11, ChatID: 8, Body: []byte(`{"update_id":11}`)}}, 12)
	if err != nil || n != 2 {
		t.Fatalf("enqueue = %d, %v; want 2 new", n, err)
	}
	if v, err := s.ChannelState(ctx, ch, TelegramOffsetKey); err != nil || v != "12" {
		t.Fatalf("offset = %q, %v; want 12 stored with the updates", v, err)
	}
	// A redelivery (webhook retry, replayed poll) adds nothing.
	if n, err := s.TelegramEnqueue(ctx, ch, []TelegramUpdate{{UpdateID: 11, Body: []byte(`{}`)}}, 0); err != nil || n != 0 {
		t.Fatalf("duplicate enqueue = %d, %v; want 0", n, err)
	}
	// The same update id on another bot is another update.
	if n, _ := s.TelegramEnqueue(ctx, "telegram:other", []TelegramUpdate{{UpdateID: 11, Body: []byte(`{}`)}}, 0); n != 1 {
		t.Fatalf("same id on another bot: %d new, want 1", n)
	}
	if err := s.TelegramRetry(ctx, ch, 10, "store busy", time.Now().Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	if err := s.TelegramDone(ctx, ch, 11, ""); err != nil {
		t.Fatal(err)
	}
	pend, err := s.TelegramPending(ctx, ch, 10)
	if err != nil || len(pend) != 1 || pend[0].UpdateID != 10 || pend[0].ChatID != 7 || pend[0].Attempts != 1 ||
		string(pend[0].Body) != `{"update_id":10}` || !pend[0].NextAttempt.After(time.Now()) {
		t.Fatalf("pending = %+v, %v; want update 10 with one attempt, due in a minute", pend, err)
	}
	if err := s.TelegramDone(ctx, ch, 99, ""); !errors.Is(err, concierge.ErrNotFound) {
		t.Fatalf("done of an unknown update: %v, want ErrNotFound", err)
	}
	if n, err := s.TelegramPrune(ctx, ch, time.Now().Add(time.Hour)); err != nil || n != 1 {
		t.Fatalf("prune = %d, %v; want the one processed update removed", n, err)
	}
	// A pruned id is forgotten; a pending one never is.
	if n, _ := s.TelegramEnqueue(ctx, ch, []TelegramUpdate{{UpdateID: 10, Body: []byte(`{}`)}, {UpdateID: 11, Body: []byte(`{}`)}}, 0); n != 1 {
		t.Fatalf("after prune: %d new, want 1 (11 forgotten, 10 still pending)", n)
	}
}
