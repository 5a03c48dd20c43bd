package main

import (
	"bytes"
	"context"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// startServe runs "concierge serve" in-process on a free port and waits until it is ready.
func startServe(t *testing.T, extra ...string) (base string, stop func() int) {
	t.Helper()
	return startServeIn(t, t.TempDir(), extra...)
}

// startServeIn is startServe on a data directory the test prepared (accounts, articles).
func startServeIn(t *testing.T, dir string, extra ...string) (base string, stop func() int) {
	t.Helper()
	addr := freeAddr(t)
	ctx, cancel := context.WithCancel(context.Background())
	logs := &syncBuffer{}
	done := make(chan int, 1)
	args := append([]string{"serve", "--data", dir, "--addr", addr, "--log-level", "info"}, extra...)
	go func() { done <- run(ctx, args, strings.NewReader(""), io.Discard, logs) }()
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("server log:\n%s", logs.String())
		}
	})
	base = "http://" + addr
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := http.Get(base + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				break
			}
		}
		select {
		case code := <-done:
			t.Fatalf("serve exited with %d before becoming ready:\n%s", code, logs.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("serve not ready after 30s:\n%s", logs.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	var once bool
	var code int
	return base, func() int {
		if !once {
			once = true
			cancel()
			select {
			case code = <-done:
			case <-time.After(20 * time.Second):
				t.Fatal("serve did not stop within 20s of the signal")
			}
			if _, err := os.Stat(filepath.Join(dir, "concierge.db")); err != nil {
				t.Fatalf("no database in the data directory: %v", err)
			}
		}
		return code
	}
}

// syncBuffer is a bytes.Buffer the server may write while the test reads it.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func get(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func TestServeAnswersHealthReadinessAndMetricsThenStopsCleanly(t *testing.T) {
	base, stop := startServe(t)
	if code, body := get(t, base+"/healthz"); code != 200 || !strings.Contains(body, "ok") {
		t.Fatalf("/healthz = %d %q", code, body)
	}
	code, body := get(t, base+"/metrics")
	for _, want := range []string{"concierge_store_commit_seconds", "process_resident_memory_bytes", "process_cpu_seconds_total", "go_goroutines"} {
		if code != 200 || !strings.Contains(body, want) {
			t.Fatalf("/metrics (%d) lacks %s", code, want)
		}
	}
	if got := stop(); got != 0 {
		t.Fatalf("serve exit status %d after SIGINT-like cancel, want 0", got)
	}
	if _, err := http.Get(base + "/healthz"); err == nil {
		t.Fatal("server still answers after shutdown")
	}
}

func TestCommandLine(t *testing.T) {
	cases := []struct {
		args []string
		code int
		out  string
	}{
		{[]string{"version"}, 0, "concierge "},
		{[]string{"help"}, 0, "Usage:"},
		{[]string{}, 2, "Usage:"},
		{[]string{"frobnicate"}, 2, `unknown command "frobnicate"`},
		{[]string{"serve", "extra-arg"}, 2, "unexpected arguments"},
		{[]string{"serve", "--config", "/nonexistent.yaml"}, 1, "no such file"},
	}
	for _, c := range cases {
		var out bytes.Buffer
		code := run(context.Background(), c.args, strings.NewReader(""), &out, &out)
		if code != c.code || !strings.Contains(out.String(), c.out) {
			t.Errorf("concierge %v: exit %d, output %q; want exit %d containing %q", c.args, code, out.String(), c.code, c.out)
		}
	}
}

func TestBackupCommandCopiesTheDatabase(t *testing.T) {
	dir := t.TempDir()
	out := filepath.Join(t.TempDir(), "copy.db")
	var buf bytes.Buffer
	if code := run(context.Background(), []string{"backup", "--data", dir, "--out", out, "--log-level", "warn"}, nil, &buf, &buf); code != 0 {
		t.Fatalf("backup exit %d: %s", code, buf.String())
	}
	if st, err := os.Stat(out); err != nil || st.Size() == 0 {
		t.Fatalf("no backup written: %v", err)
	}
	if code := run(context.Background(), []string{"backup", "--data", dir}, nil, &buf, &buf); code != 2 {
		t.Fatalf("backup without --out exit %d, want 2", code)
	}
}
