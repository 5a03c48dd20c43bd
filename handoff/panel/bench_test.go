package panel_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/conciergehq/concierge"
	"github.com/conciergehq/concierge/handoff"
	"github.com/conciergehq/concierge/internal/auth"
)

const (
	benchAgents = 200
	benchQueued = 2000
)

// seedQueue puts n conversations in the general queue, straight through the store (the
// benchmark measures reading the queue, not filling it).
func seedQueue(b *testing.B, r *rig, n int) {
	b.Helper()
	ctx := context.Background()
	var wg sync.WaitGroup
	errs := make(chan error, n)
	sem := make(chan struct{}, 64)
	now := time.Now()
	for i := 0; i < n; i++ {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			rec, err := r.st.Receive(ctx, concierge.Inbound{Channel: "web", ContactID: fmt.Sprintf("bench-%d", i),
				Text: "I want to talk to a human about order " + fmt.Sprint(i), Profile: concierge.Profile{Name: fmt.Sprintf("Customer %d", i)}})
			if err != nil {
				errs <- err
				return
			}
			tier := []string{"basic", "premium", "enterprise", "vip"}[i%4]
			at := now.Add(-time.Duration(i) * time.Second)
			_, err = r.st.Enqueue(ctx, handoff.Ticket{ConversationID: rec.Conversation.ID, Team: "general", Tier: tier,
				Reason: "asked_for_human", EscalatedAt: at, QueuedAt: at, FirstResponseDue: at.Add(30 * time.Minute),
				ResolutionDue: at.Add(24 * time.Hour)}, i%4, "en")
			if err != nil {
				errs <- err
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		b.Fatal(err)
	}
}

// signIn creates an agent and a session for it, returning its cookies.
func signIn(b *testing.B, r *rig, i int) []*http.Cookie {
	a, err := r.auth.Create(context.Background(), auth.Account{Email: fmt.Sprintf("agent%d@example.com", i),
		Name: fmt.Sprintf("Agent %d", i), Roles: []string{"agent"}, Teams: []string{"general"}}, "bench password 1")
	if err != nil {
		b.Fatal(err)
	}
	rec := httptest.NewRecorder()
	if _, err := r.auth.StartSession(context.Background(), rec, httptest.NewRequest("POST", "/login", nil), a); err != nil {
		b.Fatal(err)
	}
	return rec.Result().Cookies()
}

func cookieHeader(cs []*http.Cookie) string {
	var parts []string
	for _, c := range cs {
		parts = append(parts, c.Name+"="+c.Value)
	}
	return strings.Join(parts, "; ")
}

// BenchmarkQueueSnapshot is the panel's queue request with 2,000 conversations waiting:
// the database read (cold, after any queue change) and the HTTP answer an agent's panel
// gets (from the cache 200 panels share between changes).
func BenchmarkQueueSnapshot(b *testing.B) {
	r := newRig(b, nil)
	r.customer.discard = true
	seedQueue(b, r, benchQueued)
	cookies := signIn(b, r, 0)
	ctx := context.Background()

	start := time.Now()
	const coldRuns = 20
	for i := 0; i < coldRuns; i++ {
		items, err := r.st.Queued(ctx)
		if err != nil || len(items) != benchQueued {
			b.Fatalf("queued: %d items, %v", len(items), err)
		}
	}
	cold := time.Since(start) / coldRuns

	req, _ := http.NewRequest("GET", r.srv.URL+"/agent/api/queue", nil)
	req.Header.Set("Cookie", cookieHeader(cookies))
	var size int
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			b.Fatal(err)
		}
		n, _ := io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 {
			b.Fatalf("queue: %d", resp.StatusCode)
		}
		size = int(n)
	}
	b.StopTimer()
	b.ReportMetric(float64(cold.Microseconds())/1000, "cold-db-ms")
	b.ReportMetric(float64(b.Elapsed().Microseconds())/1000/float64(b.N), "http-ms/op")
	b.ReportMetric(float64(size)/1024, "KiB/snapshot")
}

// BenchmarkEventFanout200Agents measures how long one event takes to reach all 200
// connected panels over real WebSockets with 2,000 conversations queued: each iteration
// publishes an event and waits until every panel has it; latencies are per panel.
func BenchmarkEventFanout200Agents(b *testing.B) {
	r := newRig(b, nil)
	r.customer.discard = true
	seedQueue(b, r, benchQueued)
	wsURL := "ws" + strings.TrimPrefix(r.srv.URL, "http") + "/agent/ws"

	var mu sync.Mutex
	var lat []time.Duration
	var got atomic.Int64
	arrived := make(chan struct{}, 1)
	var conns []*websocket.Conn
	ready := make(chan struct{}, benchAgents)
	for i := 0; i < benchAgents; i++ {
		h := http.Header{"Cookie": {cookieHeader(signIn(b, r, i))}, "Origin": {r.srv.URL}}
		c, resp, err := websocket.DefaultDialer.Dial(wsURL, h)
		if err != nil {
			b.Fatalf("dial %d: %v (%v)", i, err, resp)
		}
		conns = append(conns, c)
		go func() {
			first := true
			for {
				_, data, err := c.ReadMessage()
				if err != nil {
					return
				}
				if first {
					first = false
					ready <- struct{}{}
				}
				var f struct {
					Type  string          `json:"type"`
					Event concierge.Event `json:"event"`
				}
				if json.Unmarshal(data, &f) != nil || f.Type != "event" || f.Event.Kind != concierge.EventMessage || f.Event.ConversationID != -1 {
					continue
				}
				d := time.Since(f.Event.At)
				mu.Lock()
				lat = append(lat, d)
				mu.Unlock()
				if got.Add(1)%benchAgents == 0 {
					arrived <- struct{}{}
				}
			}
		}()
	}
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	for i := 0; i < benchAgents; i++ {
		<-ready
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		m := concierge.Message{ID: int64(i), ConversationID: -1, Seq: int64(i), Sender: concierge.SenderUser, Text: "hello there, any news on my order?"}
		r.bus.Publish(concierge.TopicAgents, concierge.Event{Kind: concierge.EventMessage, ConversationID: -1, Team: "general",
			Message: &m, At: time.Now()})
		select {
		case <-arrived:
		case <-time.After(30 * time.Second):
			b.Fatalf("event %d reached %d of %d panels", i, got.Load()%benchAgents, benchAgents)
		}
	}
	b.StopTimer()
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	pct := func(p float64) float64 { return float64(lat[int(p*float64(len(lat)-1))].Microseconds()) / 1000 }
	b.ReportMetric(pct(0.50), "p50-ms")
	b.ReportMetric(pct(0.99), "p99-ms")
	b.ReportMetric(float64(len(lat)), "deliveries")
}
