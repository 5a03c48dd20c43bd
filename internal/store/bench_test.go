package store

import (
	"context"
	"fmt"
	"runtime"
	"sync/atomic"
	"testing"
	"time"

	"github.com/conciergehq/concierge"
	"github.com/conciergehq/concierge/handoff"
)

// BenchmarkDurableAppend measures stored inbound messages per second with group commit
// (synchronous=FULL: every commit is synced) from many concurrent senders, as a busy
// gateway produces them.
func BenchmarkDurableAppend(b *testing.B) {
	for _, perProc := range []int{1, 32, 256} {
		// RunParallel starts perProc goroutines per GOMAXPROCS.
		b.Run(fmt.Sprintf("senders=%d", perProc*runtime.GOMAXPROCS(0)), func(b *testing.B) {
			s := openTest(b, "")
			ctx := context.Background()
			var n atomic.Int64
			b.SetParallelism(perProc)
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					i := n.Add(1)
					in := concierge.Inbound{Channel: "web", ContactID: fmt.Sprintf("v%d", i%2000),
						MessageID: fmt.Sprintf("m%d", i), Text: "where is my order 12345?"}
					if _, err := s.Receive(ctx, in); err != nil {
						b.Error(err)
						return
					}
				}
			})
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "msgs/s")
		})
	}
}

// BenchmarkQueuePosition counts a newly queued customer's place behind 5,000 others of
// the same team (a long night with nobody online), as the handoff side does for every
// escalation.
func BenchmarkQueuePosition(b *testing.B) {
	s := openTest(b, "")
	ctx := context.Background()
	start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	var last int64
	for i := range 5000 {
		rec, err := s.Receive(ctx, concierge.Inbound{Channel: "web", ContactID: fmt.Sprintf("v%d", i), Text: "a person please"})
		if err != nil {
			b.Fatal(err)
		}
		at := start.Add(time.Duration(i) * time.Second)
		if _, err := s.Enqueue(ctx, handoff.Ticket{ConversationID: rec.Conversation.ID, Team: "general", Tier: "basic",
			EscalatedAt: at, QueuedAt: at, FirstResponseDue: at.Add(30 * time.Minute), ResolutionDue: at.Add(24 * time.Hour)}, 0, "en"); err != nil {
			b.Fatal(err)
		}
		last = rec.Conversation.ID
	}
	b.ResetTimer()
	for b.Loop() {
		if pos, err := s.QueuePosition(ctx, last); err != nil || pos != 5000 {
			b.Fatalf("position %d, %v; want 5000", pos, err)
		}
	}
}

// BenchmarkTurnReads is what routing and the bot read of a conversation on every turn
// (its unrouted customer messages, then the customer's last ten), each right after
// another conversation's message was committed, as under load: in WAL mode a read
// connection starts over with an empty page cache whenever another committed. 2,000
// conversations of twenty messages each, stored interleaved as a busy server stores them.
func BenchmarkTurnReads(b *testing.B) {
	s := openTest(b, "")
	ctx := context.Background()
	const convs = 2000
	ids := make([]int64, convs)
	for round := range 10 {
		for c := range convs {
			rec, err := s.Receive(ctx, concierge.Inbound{Channel: "web", ContactID: fmt.Sprintf("v%d", c),
				Text: fmt.Sprintf("question %d about my order 12345, it has not arrived", round)})
			if err != nil {
				b.Fatal(err)
			}
			ids[c] = rec.Conversation.ID
			if _, err := s.Append(ctx, ids[c], concierge.Outgoing{Sender: concierge.SenderBot,
				Text: "Orders usually arrive within five working days. Track yours under Orders.",
				HTML: "<p>Orders usually arrive within five working days. Track yours under <a href=\"/orders\">Orders</a>.</p>"}, false); err != nil {
				b.Fatal(err)
			}
		}
	}
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		b.StopTimer()
		if _, err := s.Receive(ctx, concierge.Inbound{Channel: "web", ContactID: fmt.Sprintf("v%d", (i*7919)%convs), Text: "and now?"}); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		id := ids[(i*104729)%convs]
		if ms, err := s.UserMessages(ctx, id, 16, 16); err != nil || len(ms) == 0 {
			b.Fatalf("unrouted: %d, %v", len(ms), err)
		}
		if ms, err := s.CustomerHistory(ctx, id, 19, 10); err != nil || len(ms) != 10 {
			b.Fatalf("history: %d, %v", len(ms), err)
		}
	}
}
