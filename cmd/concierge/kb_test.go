package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rs/zerolog"

	"github.com/conciergehq/concierge/internal/store"
	"github.com/conciergehq/concierge/kb"
)

func runCLI(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errb bytes.Buffer
	code = run(context.Background(), args, strings.NewReader(""), &out, &errb)
	return code, out.String(), errb.String()
}

func TestKBCommands(t *testing.T) {
	data := t.TempDir()
	src := filepath.Join("..", "..", "kb", "testdata", "import")
	code, out, errs := runCLI(t, "kb", "import", "--data", data, "--log-level", "warn", src)
	if code != 0 || !strings.Contains(out, "created   reset-password") || !strings.Contains(out, "3 created, 0 updated, 0 unchanged") {
		t.Fatalf("import: %d\n%s\n%s", code, out, errs)
	}
	if code, out, _ = runCLI(t, "kb", "import", "--data", data, "--log-level", "warn", src); code != 0 || !strings.Contains(out, "0 created, 0 updated, 3 unchanged") {
		t.Fatalf("second import: %d %s", code, out)
	}
	code, out, errs = runCLI(t, "kb", "search", "--data", data, "--log-level", "warn", "forgot", "my", "password")
	if code != 0 || !strings.Contains(out, " 1. ") || !strings.Contains(out, "reset-password") || !strings.Contains(out, "matched: I forgot my password") {
		t.Fatalf("search: %d\n%s\n%s", code, out, errs)
	}
	if code, out, _ = runCLI(t, "kb", "search", "--data", data, "--log-level", "warn", "--lang", "zh", "退"); code != 0 || !strings.Contains(out, "refund-zh") {
		t.Fatalf("one-character Chinese search: %d %s", code, out)
	}
	exp := t.TempDir()
	if code, out, _ = runCLI(t, "kb", "export", "--data", data, "--log-level", "warn", exp); code != 0 || !strings.Contains(out, "3 articles written") {
		t.Fatalf("export: %d %s", code, out)
	}
	if code, out, _ = runCLI(t, "kb", "reindex", "--data", data, "--log-level", "warn"); code != 0 || !strings.Contains(out, "reindexed 3 articles") {
		t.Fatalf("reindex: %d %s", code, out)
	}

	bad := t.TempDir()
	os.WriteFile(filepath.Join(bad, "good.md"), []byte("---\nid: new-one\ntitle: New\n---\nok\n"), 0o644)
	os.WriteFile(filepath.Join(bad, "bad.md"), []byte("---\nid: bad\ntitle: Bad\nstatus: live\n---\n"), 0o644)
	code, out, errs = runCLI(t, "kb", "import", "--data", data, "--log-level", "warn", bad)
	if code != 1 || !strings.Contains(errs, "bad.md:4: status \"live\"") || !strings.Contains(errs, "nothing imported") {
		t.Fatalf("bad import: %d\n%s\n%s", code, out, errs)
	}

	if code, _, errs = runCLI(t, "kb", "frobnicate"); code != 2 || !strings.Contains(errs, "unknown subcommand") {
		t.Fatalf("unknown subcommand: %d %s", code, errs)
	}
	if code, _, _ = runCLI(t, "kb", "search", "--data", data); code != 2 {
		t.Fatalf("search without a query: %d, want 2", code)
	}
}

// While a server holds the index, import goes to the database only and says so; search
// refuses clearly.
func TestKBImportWhileTheIndexIsHeld(t *testing.T) {
	data := t.TempDir()
	log := zerolog.New(zerolog.NewTestWriter(t))
	st, err := store.Open(context.Background(), filepath.Join(data, "concierge.db"), log, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	server, err := kb.Open(context.Background(), st, filepath.Join(data, "kb.bleve"), nil, log)
	if err != nil {
		t.Fatal(err)
	}
	defer server.Close()
	src := filepath.Join("..", "..", "kb", "testdata", "import")
	code, out, errs := runCLI(t, "kb", "import", "--data", data, "--log-level", "warn", src)
	if code != 0 || !strings.Contains(errs, "writing to the database only") || !strings.Contains(out, "3 created") {
		t.Fatalf("import beside a server: %d\n%s\n%s", code, out, errs)
	}
	code, _, errs = runCLI(t, "kb", "search", "--data", data, "--log-level", "warn", "password")
	if code != 1 || !strings.Contains(errs, "in use by another process") {
		t.Fatalf("search beside a server: %d %s", code, errs)
	}
	if n, _ := server.Count(context.Background()); n != 3 {
		t.Fatalf("the server's database has %d articles, want the 3 imported", n)
	}
}
