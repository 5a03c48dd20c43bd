package main

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/rs/zerolog"

	"github.com/conciergehq/concierge/channels"
	"github.com/conciergehq/concierge/internal/blob"
	"github.com/conciergehq/concierge/internal/bus"
	"github.com/conciergehq/concierge/internal/config"
	"github.com/conciergehq/concierge/internal/httpx"
	"github.com/conciergehq/concierge/internal/metrics"
	"github.com/conciergehq/concierge/internal/store"
)

// TestServeMountsTheWidget builds the server as `serve` does, on the default
// configuration, and checks that the demo page, the loader, the chat window and the
// WebSocket answer through the real middleware (which must let the WebSocket hijack).
func TestServeMountsTheWidget(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	log := zerolog.New(zerolog.NewTestWriter(t)).Level(zerolog.WarnLevel)
	dir := t.TempDir()
	st, err := store.Open(ctx, filepath.Join(dir, "concierge.db"), log, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	cfg := config.Default()
	m := metrics.New()
	s := &server{env: &env{cfg: cfg, log: log, dataDir: dir, store: st, metrics: m}, bus: bus.New(), mux: http.NewServeMux()}
	if s.blobs, err = blob.New(filepath.Join(dir, "uploads"), 1<<20); err != nil {
		t.Fatal(err)
	}
	s.gateway = channels.New(st, s.bus, m, log, channels.Options{})
	ln := httptest.NewUnstartedServer(nil)
	s.cfg.Server.Addr = ln.Listener.Addr().String()
	if err := s.setup(ctx); err != nil {
		t.Fatal(err)
	}
	ln.Config.Handler = httpx.Middleware(log, nil, s.mux)
	ln.Start()
	defer ln.Close()
	for _, svc := range s.services {
		go svc.run(ctx)
	}

	for path, want := range map[string]string{
		"/":                              "Nimbus",
		"/widget.js":                     "ConciergeSettings",
		"/widget/frame":                  `id="log"`,
		"/widget/frame?origin=" + ln.URL: `id="log"`,
	} {
		resp, err := http.Get(ln.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || !strings.Contains(string(b), want) {
			t.Errorf("GET %s: %d, body without %q", path, resp.StatusCode, want)
		}
	}
	localhost := strings.Replace(ln.URL, "127.0.0.1", "localhost", 1)
	for origin, want := range map[string]int{ln.URL: 101, localhost: 101, "http://evil.example": 403} {
		ws, resp, err := websocket.DefaultDialer.Dial("ws"+strings.TrimPrefix(ln.URL, "http")+"/widget/ws", http.Header{"Origin": {origin}})
		if resp == nil {
			t.Fatalf("origin %s: %v", origin, err)
		}
		if resp.StatusCode != want {
			t.Fatalf("origin %s: status %d, want %d", origin, resp.StatusCode, want)
		}
		if ws == nil {
			continue
		}
		ws.WriteJSON(map[string]any{"type": "hello"})
		ws.SetReadDeadline(time.Now().Add(10 * time.Second))
		var welcome struct {
			Type, Token string
		}
		if err := ws.ReadJSON(&welcome); err != nil || welcome.Type != "welcome" || welcome.Token == "" {
			t.Fatalf("welcome %+v, %v", welcome, err)
		}
		ws.Close()
	}
}
