package telegram

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/conciergehq/concierge/channels"
	"github.com/conciergehq/concierge/channels/telegram/telegramtest"
	"github.com/conciergehq/concierge/internal/bus"
	"github.com/conciergehq/concierge/internal/store"
)

// BenchmarkWebhookToStoredMessage measures a webhook post from arrival to the customer's
// message stored in its conversation: secret check, inbox write, 200, worker, gateway.
// 100 customers write at once over many connections, as a busy bot sees them.
func BenchmarkWebhookToStoredMessage(b *testing.B) {
	fake := telegramtest.New(b)
	st, err := store.Open(context.Background(), filepath.Join(b.TempDir(), "b.db"), zerolog.Nop(), store.Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	gw := channels.New(st, bus.New(), nil, zerolog.Nop(), channels.Options{})
	a, err := New(context.Background(), Config{Name: "bench", Token: telegramtest.Token, APIURL: fake.URL,
		Mode: ModeWebhook, WebhookURL: "https://x.example/telegram/bench/webhook", WebhookSecret: "s"}, gw, st, nil, zerolog.Nop())
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { a.Run(ctx); close(done) }()
	defer func() { cancel(); <-done }()
	h := a.WebhookHandler()
	bodies := make([][]byte, b.N)
	for i := range bodies {
		u := telegramtest.Text(i+1, int64(1000+i%100), "C", "where is my order?")
		u.UpdateID = i + 1
		bodies[i], _ = json.Marshal(u)
	}
	var next atomic.Int64
	b.SetParallelism(20) // Telegram keeps up to 40 webhook connections open
	b.ResetTimer()
	start := time.Now()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			body := bodies[next.Add(1)-1]
			req := httptest.NewRequest(http.MethodPost, a.WebhookPath(), strings.NewReader(string(body)))
			req.Header.Set("X-Telegram-Bot-Api-Secret-Token", "s")
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			if rec.Code != http.StatusOK {
				b.Errorf("status %d", rec.Code)
			}
		}
	})
	acked := time.Since(start)
	for {
		pend, err := st.TelegramPending(context.Background(), a.Name(), 1)
		if err != nil {
			b.Fatal(err)
		}
		if len(pend) == 0 {
			break
		}
		time.Sleep(5 * time.Millisecond) // benchmarks may poll; tests do not
	}
	total := time.Since(start)
	b.ReportMetric(float64(b.N)/acked.Seconds(), "webhook-acks/s")
	b.ReportMetric(float64(b.N)/total.Seconds(), "stored-msgs/s")
}
