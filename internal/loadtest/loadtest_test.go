package loadtest

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"
)

// fakeServer speaks the widget protocol's happy path (hello → welcome; message → ack,
// the message itself, a bot reply) and can misbehave in the ways the accounting must
// catch. The real server is driven by cmd/concierge's TestLoadtestAgainstTheServer.
type fakeServer struct {
	misbehave func(n int) string // "", "dup", "drop", "noack", "gap"
	mu        sync.Mutex
	n         int
}

func (f *fakeServer) handler(t *testing.T) http.Handler {
	up := websocket.Upgrader{}
	mux := http.NewServeMux()
	mux.HandleFunc("/metrics", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintln(w, "# HELP process_resident_memory_bytes Resident memory size in bytes.")
		fmt.Fprintln(w, "process_resident_memory_bytes 5.24288e+07")
		fmt.Fprintln(w, "process_cpu_seconds_total 1.5")
	})
	var conv int64
	var convMu sync.Mutex
	mux.HandleFunc("/widget/ws", func(w http.ResponseWriter, r *http.Request) {
		ws, err := up.Upgrade(w, r, nil)
		if err != nil {
			return
		}
		defer ws.Close()
		var hello map[string]any
		if err := ws.ReadJSON(&hello); err != nil || hello["type"] != "hello" {
			return
		}
		convMu.Lock()
		conv++
		id := conv
		convMu.Unlock()
		ws.WriteJSON(map[string]any{"type": "welcome", "token": "cv1.t", "conversation_id": id, "status": "bot"})
		var seq int64
		for {
			var m map[string]any
			if err := ws.ReadJSON(&m); err != nil {
				return
			}
			f.mu.Lock()
			f.n++
			how := f.misbehave(f.n)
			f.mu.Unlock()
			if how == "noack" {
				continue
			}
			seq++
			ws.WriteJSON(map[string]any{"type": "ack", "id": m["id"], "conversation_id": id, "seq": seq})
			ws.WriteJSON(map[string]any{"type": "message", "conversation_id": id, "seq": seq, "sender": "user", "client_id": m["id"], "text": m["text"]})
			switch how {
			case "drop":
				continue
			case "gap":
				seq++
			}
			seq++
			reply := map[string]any{"type": "message", "conversation_id": id, "seq": seq, "sender": "bot", "text": "answer"}
			ws.WriteJSON(reply)
			if how == "dup" {
				ws.WriteJSON(reply)
				ws.WriteJSON(map[string]any{"type": "ack", "id": m["id"], "conversation_id": id, "seq": seq - 1})
			}
		}
	})
	return mux
}

func TestAccountingCatchesWhatAServerGetsWrong(t *testing.T) {
	cases := []struct {
		name                    string
		misbehave               func(n int) string
		lostUnacked, unanswered int64
		gaps, dupAcks, dupMsgs  int64
	}{
		{name: "correct", misbehave: func(int) string { return "" }},
		{name: "reply lost", misbehave: every(5, "drop"), unanswered: 2},
		{name: "message never acked", misbehave: every(5, "noack"), lostUnacked: 2},
		{name: "sequence gap", misbehave: every(5, "gap"), gaps: 2},
		{name: "duplicates", misbehave: every(5, "dup"), dupAcks: 2, dupMsgs: 2},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f := &fakeServer{misbehave: tc.misbehave}
			srv := httptest.NewServer(f.handler(t))
			defer srv.Close()
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			rep, err := Run(ctx, Options{URL: srv.URL, Visitors: 2, Rate: 20, Duration: 500 * time.Millisecond,
				Drain: 500 * time.Millisecond, Settle: 10 * time.Millisecond, Questions: []string{"a", "b"}})
			if err != nil {
				t.Fatal(err)
			}
			var out strings.Builder
			rep.Print(&out)
			t.Log("\n" + out.String())
			if rep.Sent != 10 {
				t.Errorf("sent %d, want 10 (20/s for 0.5 s)", rep.Sent)
			}
			got := [5]int64{rep.LostUnacked, rep.LostUnanswered, rep.Gaps, rep.DupAcks, rep.DupMessages}
			want := [5]int64{tc.lostUnacked, tc.unanswered, tc.gaps, tc.dupAcks, tc.dupMsgs}
			if got != want {
				t.Errorf("unacked, unanswered, gaps, dup acks, dup messages = %v, want %v", got, want)
			}
			if ok := want == [5]int64{}; rep.OK() != ok {
				t.Errorf("OK() = %v, want %v", rep.OK(), ok)
			}
			if rep.Server.BaselineRSS != 50<<20 {
				t.Errorf("server rss %d, want the metrics endpoint's 50 MiB", rep.Server.BaselineRSS)
			}
		})
	}
}

// every misbehaves on every k-th message the server receives, so a run of 10 messages
// has a known number of faults whichever visitors sent them.
func every(k int, how string) func(int) string {
	return func(n int) string {
		if n%k == 0 {
			return how
		}
		return ""
	}
}

func TestIdleModeOnlyHoldsConnections(t *testing.T) {
	f := &fakeServer{misbehave: func(int) string { return "" }}
	srv := httptest.NewServer(f.handler(t))
	defer srv.Close()
	rep, err := Run(context.Background(), Options{URL: srv.URL, Visitors: 50, Duration: 200 * time.Millisecond, Settle: 10 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Connected != 50 || rep.Sent != 0 || !rep.OK() {
		t.Fatalf("connected %d, sent %d, ok %v", rep.Connected, rep.Sent, rep.OK())
	}
}

func TestOptionsAreChecked(t *testing.T) {
	for _, o := range []Options{
		{Visitors: 1, Duration: time.Second},
		{URL: "http://x", Duration: time.Second},
		{URL: "http://x", Visitors: 1, Duration: time.Second, Rate: -1},
		{URL: "http://x", Visitors: 1, Duration: time.Second, Rate: 5},
		{URL: "ftp://x", Visitors: 1, Duration: time.Second},
	} {
		if _, err := Run(context.Background(), o); err == nil {
			t.Errorf("%+v: no error", o)
		}
	}
}

func TestMakeKBWritesImportableArticlesAndQuestions(t *testing.T) {
	dir := t.TempDir()
	q, err := MakeKB(dir, 1000, 1)
	if err != nil {
		t.Fatal(err)
	}
	files, _ := filepath.Glob(filepath.Join(dir, "*.md"))
	if len(files) != 1000 {
		t.Fatalf("%d articles, want 1000", len(files))
	}
	data, err := os.ReadFile(q)
	if err != nil {
		t.Fatal(err)
	}
	qs, err := ReadQuestions(data)
	if err != nil || len(qs) != 1000 {
		t.Fatalf("%d questions, %v", len(qs), err)
	}
	var first struct{ Text, Expect string }
	json.Unmarshal([]byte(strings.SplitN(string(data), "\n", 2)[0]), &first)
	if _, err := os.Stat(filepath.Join(dir, first.Expect+".md")); err != nil {
		t.Errorf("the first question expects %q, which is not an article: %v", first.Expect, err)
	}
	if _, err := MakeKB(dir, 1001, 1); err == nil {
		t.Error("1001 articles: no error")
	}
	if _, err := ReadQuestions([]byte("{\"text\": \"\"}\n")); err == nil {
		t.Error("an empty question: no error")
	}
}
