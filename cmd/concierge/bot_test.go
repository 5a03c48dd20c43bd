package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// runCmd runs one command line in-process and returns its exit status and output.
func runCmd(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var out, errb bytes.Buffer
	code := run(context.Background(), args, strings.NewReader(""), &out, &errb)
	return code, out.String(), errb.String()
}

func writeFile(t *testing.T, dir, name, body string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// importFixtureKB imports the dialogue fixture KB (English and Chinese articles) into a
// fresh data directory.
func importFixtureKB(t *testing.T) string {
	t.Helper()
	data := t.TempDir()
	if code, out, errs := runCmd(t, "kb", "import", "--data", data, "--log-level", "warn", "../../testdata/dialogues/kb"); code != 0 {
		t.Fatalf("kb import: exit %d\n%s%s", code, out, errs)
	}
	return data
}

func TestBotTestReportsAccuracyAndWritesOneLinePerQuestion(t *testing.T) {
	data := importFixtureKB(t)
	dir := t.TempDir()
	q := writeFile(t, dir, "q.jsonl", `{"text": "I forgot my password", "expect": "reset-password"}
{"text": "where is my parcel? it has not arrived", "expect": "order-status"}
{"text": "怎么重置密码", "expect": "zh-reset-password", "lang": "zh"}

{"text": "do you sell gift cards for the Lisbon store?", "expect": null}
{"text": "how do I cancel my subscription", "expect": "change-plan"}
`)
	out := filepath.Join(dir, "out.jsonl")
	code, stdout, stderr := runCmd(t, "bot", "test", "--data", data, "--log-level", "warn", "--questions", q, "--out", out)
	if code != 0 {
		t.Fatalf("exit %d\n%s%s", code, stdout, stderr)
	}
	lines := strings.Split(strings.TrimSpace(stdout), "\n")
	if last := lines[len(lines)-1]; last != "4 passed, 1 failed" {
		t.Fatalf("last line %q, want \"4 passed, 1 failed\"; output:\n%s", last, stdout)
	}
	for _, want := range []string{"questions: 5 (4 in scope, 1 out of scope)", "top-1 accuracy (in scope, answered or asked for the expected article): 75.00% (3/4)",
		"out-of-scope recall (escalated): 100.00% (1/1)", "escalated: 20.00% (1/5)", "decisions per second: "} {
		if !strings.Contains(stdout, want) {
			t.Errorf("summary lacks %q:\n%s", want, stdout)
		}
	}
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	var results []map[string]any
	for _, l := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		var r map[string]any
		if err := json.Unmarshal([]byte(l), &r); err != nil {
			t.Fatalf("output line %q: %v", l, err)
		}
		results = append(results, r)
	}
	if len(results) != 5 {
		t.Fatalf("%d output lines, want 5", len(results))
	}
	r := results[1]
	if r["action"] != "ask" || r["article_id"] != "order-status" || r["ok"] != true || r["expect"] != "order-status" {
		t.Errorf("order question (needs an order number) = %v, want ask order-status ok", r)
	}
	if r := results[3]; r["action"] != "escalate" || r["ok"] != true || r["expect"] != nil {
		t.Errorf("out-of-scope question = %v", r)
	}
	for _, k := range []string{"text", "action", "article_id", "score", "expect", "ok"} {
		if _, ok := results[0][k]; !ok {
			t.Errorf("output line lacks %q: %v", k, results[0])
		}
	}

	// --min-accuracy: 75% passes 0.7 and fails 90%.
	if code, _, _ := runCmd(t, "bot", "test", "--data", data, "--log-level", "warn", "--questions", q, "--out", out, "--min-accuracy", "0.7"); code != 0 {
		t.Errorf("--min-accuracy 0.7 with 75%%: exit %d, want 0", code)
	}
	code, _, stderr = runCmd(t, "bot", "test", "--data", data, "--log-level", "warn", "--questions", q, "--out", out, "--min-accuracy", "90%")
	if code != 1 || !strings.Contains(stderr, "below --min-accuracy") {
		t.Errorf("--min-accuracy 90%% with 75%%: exit %d %q, want 1 naming the shortfall", code, stderr)
	}
}

func TestBotTestRefusesBadInputNamingTheLine(t *testing.T) {
	data := importFixtureKB(t)
	dir := t.TempDir()
	cases := []struct{ body, want string }{
		{`{"text": "ok", "expect": null}` + "\n" + `{"text": "broken"`, "line 2: not a JSON object"},
		{`{"text": "", "expect": null}`, `line 1: "text" is empty`},
		{`{"text": "hello"}`, `line 1: "expect" is missing`},
		{`{"text": "hello", "expect": 7}`, "line 1:"},
		{`{"text": "hello", "expect": null, "answer": "x"}`, `line 1: unknown field "answer"`},
		{"\n\n" + `{"text": "hello", "expect": "no-such-article"}`, `line 3: "expect": no published article "no-such-article"`},
		{"", "no questions"},
	}
	for _, c := range cases {
		q := writeFile(t, dir, "bad.jsonl", c.body)
		code, _, stderr := runCmd(t, "bot", "test", "--data", data, "--log-level", "warn", "--questions", q)
		if code == 0 || !strings.Contains(stderr, c.want) {
			t.Errorf("input %q: exit %d, stderr %q; want a failure containing %q", c.body, code, stderr, c.want)
		}
	}
	if code, _, stderr := runCmd(t, "bot", "test", "--data", data); code != 2 || !strings.Contains(stderr, "--questions is required") {
		t.Errorf("without --questions: exit %d %q", code, stderr)
	}
	empty := t.TempDir()
	q := writeFile(t, dir, "q.jsonl", `{"text": "hello", "expect": null}`)
	if code, _, stderr := runCmd(t, "bot", "test", "--data", empty, "--log-level", "warn", "--questions", q); code != 1 || !strings.Contains(stderr, "concierge kb import") {
		t.Errorf("empty KB: exit %d %q, want advice to import", code, stderr)
	}
}
