package bot

import (
	"context"
	"fmt"
	"math/rand"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/conciergehq/concierge"
	"github.com/conciergehq/concierge/channels"
	"github.com/conciergehq/concierge/kb"
)

// syntheticKB makes n articles that look like a support KB: each topic has a few words
// of its own, mixed with a Zipf-distributed shared vocabulary (how, my, account…), ten
// sample questions and a body.
func syntheticKB(n int, seed int64) ([]kb.Article, []string) {
	rng := rand.New(rand.NewSource(seed))
	shared := make([]string, 3000)
	for i := range shared {
		shared[i] = fmt.Sprintf("w%dx", i)
	}
	zipf := rand.NewZipf(rng, 1.2, 1, uint64(len(shared)-1))
	var arts []kb.Article
	var queries []string
	for i := 0; i < n; i++ {
		own := []string{fmt.Sprintf("topic%da", i), fmt.Sprintf("topic%db", i), fmt.Sprintf("thing%d", i%300)}
		sentence := func(words int) string {
			var w []string
			for j := 0; j < words; j++ {
				if rng.Intn(3) == 0 {
					w = append(w, own[rng.Intn(len(own))])
				} else {
					w = append(w, shared[zipf.Uint64()])
				}
			}
			return strings.Join(w, " ")
		}
		a := kb.Article{ID: fmt.Sprintf("article-%04d", i), Title: sentence(4), Lang: "en", Status: kb.StatusPublished,
			Body: sentence(40) + ".\n\n" + sentence(30) + "."}
		for q := 0; q < 10; q++ {
			a.Questions = append(a.Questions, sentence(6+rng.Intn(6)))
		}
		arts = append(arts, a)
		queries = append(queries, sentence(5+rng.Intn(8)))
	}
	return arts, queries
}

// BenchmarkDecision measures one triage decision (language, details, mood, ranking,
// confidence, reply) without an LLM on a 1,000-article KB, and reports the p50 and p99
// latency per decision. Target: p99 ≤ 2 ms.
func BenchmarkDecision(b *testing.B) {
	arts, queries := syntheticKB(1000, 1)
	start := time.Now()
	bt, err := New(&sliceKB{arts: arts, fb: &feedbackLog{}}, plainRenderer{}, Options{}, testLogger(b))
	if err != nil {
		b.Fatal(err)
	}
	if err := bt.Reload(context.Background()); err != nil {
		b.Fatal(err)
	}
	build := time.Since(start)
	lat := make([]time.Duration, 0, b.N)
	ctx := context.Background()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		q := queries[i%len(queries)]
		msg := concierge.Message{ID: 1, Seq: 1, Sender: concierge.SenderUser, Text: q}
		t0 := time.Now()
		if _, err := bt.Respond(ctx, channels.Turn{Conversation: concierge.Conversation{ID: 1, Status: concierge.StatusBot},
			Message: msg, History: []concierge.Message{msg}}); err != nil {
			b.Fatal(err)
		}
		lat = append(lat, time.Since(t0))
	}
	b.StopTimer()
	b.ReportMetric(float64(build.Milliseconds()), "index-build-ms")
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	b.ReportMetric(float64(lat[len(lat)/2].Microseconds())/1000, "p50-ms")
	b.ReportMetric(float64(lat[min(len(lat)-1, len(lat)*99/100)].Microseconds())/1000, "p99-ms")
}
