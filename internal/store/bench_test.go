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
