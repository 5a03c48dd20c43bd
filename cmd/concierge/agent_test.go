package main

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/conciergehq/concierge/internal/auth"
)

// cheapConfig keeps bcrypt at its lowest allowed cost: the race detector makes cost 12
// take seconds per hash.
func cheapConfig(t *testing.T, dir string) string {
	p := filepath.Join(dir, "concierge.yaml")
	if err := os.WriteFile(p, []byte("handoff:\n  accounts:\n    bcrypt_cost: 10\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func agentCmd(t *testing.T, dir, stdin string, args ...string) (int, string) {
	t.Helper()
	var out bytes.Buffer
	full := append([]string{"agent"}, args...)
	full = append(full, "--data", dir, "--log-level", "warn", "--config", cheapConfig(t, dir))
	code := run(context.Background(), full, strings.NewReader(stdin), &out, &out)
	return code, out.String()
}

func TestAgentCommands(t *testing.T) {
	dir := t.TempDir()
	if code, out := agentCmd(t, dir, "a long password\n", "add", "--email", "Ana@Example.com", "--name", "Ana",
		"--role", "agent,editor", "--team", "billing", "--team", "general", "--max-chats", "3"); code != 0 {
		t.Fatalf("add: %d %s", code, out)
	}
	if code, out := agentCmd(t, dir, "a long password\n", "add", "--email", "ana@example.com", "--name", "Ana 2", "--role", "agent"); code != 2 || !strings.Contains(out, "already exists") {
		t.Fatalf("duplicate add: %d %s", code, out)
	}
	if code, out := agentCmd(t, dir, "short\n", "add", "--email", "bo@example.com", "--name", "Bo", "--role", "agent"); code != 2 || !strings.Contains(out, "at least 10") {
		t.Fatalf("short password: %d %s", code, out)
	}
	if code, out := agentCmd(t, dir, "", "add", "--email", "bo@example.com", "--name", "Bo", "--role", "agent", "secret-password"); code != 2 || !strings.Contains(out, "never arguments") {
		t.Fatalf("password as an argument: %d %s", code, out)
	}
	if code, out := agentCmd(t, dir, "a long password\n", "add", "--email", "bo@example.com", "--name", "Bo", "--role", "agent", "--team", "nope"); code != 2 || !strings.Contains(out, `no team "nope"`) {
		t.Fatalf("unknown team: %d %s", code, out)
	}
	if code, out := agentCmd(t, dir, "", "disable", "--email", "ana@example.com"); code != 0 || !strings.Contains(out, "disabled") {
		t.Fatalf("disable: %d %s", code, out)
	}
	code, out := agentCmd(t, dir, "", "list", "--json")
	if code != 0 {
		t.Fatalf("list: %d %s", code, out)
	}
	var accts []auth.Account
	if err := json.Unmarshal([]byte(out), &accts); err != nil {
		t.Fatalf("list --json: %v\n%s", err, out)
	}
	if len(accts) != 1 || accts[0].Email != "ana@example.com" || !accts[0].Disabled || accts[0].MaxChats != 3 ||
		strings.Join(accts[0].Teams, ",") != "billing,general" || strings.Contains(out, "password_hash") {
		t.Fatalf("list: %+v", accts)
	}
	if code, out := agentCmd(t, dir, "", "set", "--email", "ana@example.com", "--role", "admin", "--team", "security"); code != 0 {
		t.Fatalf("set: %d %s", code, out)
	}
	if code, out := agentCmd(t, dir, "another password\n", "passwd", "--email", "ana@example.com"); code != 0 {
		t.Fatalf("passwd: %d %s", code, out)
	}
	code, out = agentCmd(t, dir, "", "list")
	if code != 0 || !strings.Contains(out, "admin") || !strings.Contains(out, "security") || !strings.Contains(out, "disabled") {
		t.Fatalf("list table: %d %s", code, out)
	}
	if code, out := agentCmd(t, dir, "", "passwd", "--email", "nobody@example.com"); code != 2 || !strings.Contains(out, "no such account") {
		t.Fatalf("passwd of a stranger: %d %s", code, out)
	}
}

func TestServeCreatesTheFirstAdminAndGuardsThePanel(t *testing.T) {
	base, stop := startServe(t)
	defer stop()
	c := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := c.Get(base + "/agent")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusSeeOther || !strings.HasPrefix(resp.Header.Get("Location"), "/login") {
		t.Fatalf("/agent without a session: %d %s, want the login page", resp.StatusCode, resp.Header.Get("Location"))
	}
	resp, err = c.Get(base + "/agent/api/queue")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("API without a session: %d, want 401", resp.StatusCode)
	}
	if code, body := get(t, base+"/login"); code != 200 || !strings.Contains(body, `name="password"`) {
		t.Fatalf("/login: %d", code)
	}
}

func TestFirstAdminPasswordFile(t *testing.T) {
	dir := t.TempDir()
	addr := freeAddr(t)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan int, 1)
	var logs bytes.Buffer
	go func() {
		done <- run(ctx, []string{"serve", "--data", dir, "--addr", addr, "--log-level", "warn", "--config", cheapConfig(t, dir)},
			strings.NewReader(""), &logs, &logs)
	}()
	pwFile := filepath.Join(dir, "initial-admin-password")
	waitReady(t, "http://"+addr, done, &logs)
	cancel()
	<-done
	b, err := os.ReadFile(pwFile)
	if err != nil {
		t.Fatalf("no initial password file: %v\n%s", err, logs.String())
	}
	st, _ := os.Stat(pwFile)
	if st.Mode().Perm() != 0o600 {
		t.Fatalf("password file mode %v, want 0600", st.Mode().Perm())
	}
	pw := strings.TrimSpace(string(b))
	if !strings.Contains(logs.String(), pw) || !strings.Contains(logs.String(), "admin@localhost") {
		t.Fatalf("the log does not show the first admin's credentials once:\n%s", logs.String())
	}
	code, out := agentCmd(t, dir, "", "list")
	if code != 0 || !strings.Contains(out, "admin@localhost") || !strings.Contains(out, "must change password") {
		t.Fatalf("first admin: %s", out)
	}
}

func waitReady(t *testing.T, base string, done chan int, logs *bytes.Buffer) {
	t.Helper()
	for i := 0; i < 1500; i++ {
		resp, err := http.Get(base + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return
			}
		}
		select {
		case code := <-done:
			t.Fatalf("serve exited with %d:\n%s", code, logs.String())
		case <-time.After(20 * time.Millisecond):
		}
	}
	t.Fatalf("serve not ready:\n%s", logs.String())
}
