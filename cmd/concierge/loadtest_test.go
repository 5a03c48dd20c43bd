package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// TestLoadtestAgainstTheServer runs the load tool against a real server on the demo KB,
// with the limits testdata/loadtest.yaml lifts, and checks its exact accounting.
func TestLoadtestAgainstTheServer(t *testing.T) {
	dir := t.TempDir()
	base, stop := startServeIn(t, dir, "--config", filepath.Join("..", "..", "testdata", "loadtest.yaml"))
	defer stop()
	var out, errOut bytes.Buffer
	code := run(context.Background(), []string{"loadtest", "--url", base, "--visitors", "20", "--rate", "40",
		"--duration", "2s", "--quiet"}, strings.NewReader(""), &out, &errOut)
	t.Logf("\n%s%s", out.String(), errOut.String())
	if code != 0 {
		t.Fatalf("loadtest exited with %d", code)
	}
	report := out.String()
	m := regexp.MustCompile(`sent (\d+)  acked (\d+)  replied (\d+)`).FindStringSubmatch(report)
	if m == nil || m[1] != "80" || m[2] != "80" || m[3] != "80" {
		t.Errorf("accounting %q: want 80 sent (40/s for 2 s), every one acked and answered", m)
	}
	for _, want := range []string{"lost          0", "duplicated    0", "errors        0", "result        ok", "server rss", "bot replies   p50"} {
		if !strings.Contains(report, want) {
			t.Errorf("the report has no %q", want)
		}
	}
}

func TestLoadtestMakeKBAndBadFlags(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "kb")
	var out, errOut bytes.Buffer
	if code := run(context.Background(), []string{"loadtest", "--make-kb", dir, "--articles", "30"}, nil, &out, &errOut); code != 0 {
		t.Fatalf("make-kb: %d %s", code, errOut.String())
	}
	// The synthetic articles import as they are.
	data := t.TempDir()
	out.Reset()
	if code := run(context.Background(), []string{"kb", "import", "--data", data, dir}, nil, &out, &errOut); code != 0 {
		t.Fatalf("kb import: %d %s", code, errOut.String())
	}
	if !strings.Contains(out.String(), "30") {
		t.Errorf("kb import said %q; want 30 created", out.String())
	}
	if code := run(context.Background(), []string{"loadtest", "--url", "http://127.0.0.1:1", "--questions", filepath.Join(dir, "missing.jsonl")}, nil, &out, &errOut); code == 0 {
		t.Error("a missing questions file: exit 0")
	}
	if err := os.WriteFile(filepath.Join(dir, "bad.jsonl"), []byte("{not json\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	errOut.Reset()
	if code := run(context.Background(), []string{"loadtest", "--questions", filepath.Join(dir, "bad.jsonl")}, nil, &out, &errOut); code == 0 || !strings.Contains(errOut.String(), "line 1") {
		t.Errorf("a malformed questions file: exit %d, %q", code, errOut.String())
	}
	if code := run(context.Background(), []string{"loadtest", "--url", "http://127.0.0.1:1", "--visitors", "1", "--duration", "1s"}, nil, &out, &errOut); code == 0 {
		t.Error("no server: exit 0")
	}
}
