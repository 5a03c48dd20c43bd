package store

import (
	"context"
	"fmt"
	"runtime"
	"sync/atomic"
	"testing"

	"github.com/conciergehq/concierge"
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
