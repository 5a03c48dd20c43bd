package auth_test

import (
	"context"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"golang.org/x/crypto/bcrypt"

	"github.com/conciergehq/concierge/internal/auth"
	"github.com/conciergehq/concierge/internal/httpx"
	"github.com/conciergehq/concierge/internal/store"
)

type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *fakeClock) Add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

type env struct {
	t     *testing.T
	st    *store.Store
	auth  *auth.Service
	srv   *httptest.Server
	clock *fakeClock
}

func newEnv(t *testing.T) *env {
	t.Helper()
	log := zerolog.New(zerolog.NewTestWriter(t))
	clock := &fakeClock{t: time.Now()}
	st, err := store.Open(context.Background(), filepath.Join(t.TempDir(), "a.db"), log, store.Options{Now: clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	a := auth.New(st, auth.Options{BcryptCost: bcrypt.MinCost, MaxAge: 24 * time.Hour, Idle: time.Hour,
		AttemptsPerMinute: 5, Now: clock.Now}, log)
	mux := http.NewServeMux()
	a.Routes(mux)
	ok := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		u, _ := httpx.UserFrom(r.Context())
		io.WriteString(w, "hello "+u.Name)
	})
	mux.Handle("GET /agent", a.Require(httpx.RoleAgent, ok))
	mux.Handle("GET /agent/api/thing", a.Require(httpx.RoleAgent, ok))
	mux.Handle("POST /agent/api/thing", a.Require(httpx.RoleAgent, ok))
	mux.Handle("GET /kb/", a.Require(httpx.RoleEditor, ok))
	srv := httptest.NewServer(httpx.Middleware(log, nil, mux))
	t.Cleanup(srv.Close)
	return &env{t: t, st: st, auth: a, srv: srv, clock: clock}
}

func (e *env) account(email string, roles ...string) auth.Account {
	e.t.Helper()
	a, err := e.auth.Create(context.Background(), auth.Account{Email: email, Name: strings.Split(email, "@")[0], Roles: roles,
		Teams: []string{"general"}}, "correct horse battery")
	if err != nil {
		e.t.Fatal(err)
	}
	return a
}

// browser is an HTTP client with cookies that does not follow redirects.
type browser struct {
	t   *testing.T
	e   *env
	c   *http.Client
	jar *cookiejar.Jar
}

func (e *env) browser() *browser {
	jar, _ := cookiejar.New(nil)
	return &browser{t: e.t, e: e, jar: jar, c: &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error {
		return http.ErrUseLastResponse
	}}}
}

func (b *browser) do(method, path string, body io.Reader, hdr map[string]string) (*http.Response, string) {
	b.t.Helper()
	req, _ := http.NewRequest(method, b.e.srv.URL+path, body)
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := b.c.Do(req)
	if err != nil {
		b.t.Fatal(err)
	}
	defer resp.Body.Close()
	out, _ := io.ReadAll(resp.Body)
	return resp, string(out)
}

var csrfInput = regexp.MustCompile(`name="csrf_token" value="([^"]+)"`)

func (b *browser) login(email, password string) *http.Response {
	b.t.Helper()
	_, page := b.do("GET", "/login?next=/agent", nil, nil)
	m := csrfInput.FindStringSubmatch(page)
	if m == nil {
		b.t.Fatalf("login page without a CSRF field:\n%s", page)
	}
	form := url.Values{"email": {email}, "password": {password}, "csrf_token": {m[1]}, "next": {"/agent"}}
	resp, _ := b.do("POST", "/login", strings.NewReader(form.Encode()),
		map[string]string{"Content-Type": "application/x-www-form-urlencoded", "Origin": b.e.srv.URL})
	return resp
}

func (b *browser) cookie(name string) string {
	u, _ := url.Parse(b.e.srv.URL)
	for _, c := range b.jar.Cookies(u) {
		if c.Name == name {
			return c.Value
		}
	}
	return ""
}

func TestLoginSessionAndRoles(t *testing.T) {
	e := newEnv(t)
	e.account("ana@example.com", "agent")
	e.account("ed@example.com", "editor")
	b := e.browser()

	// Not signed in: pages go to the login page, APIs answer 401.
	if resp, _ := b.do("GET", "/agent", nil, nil); resp.StatusCode != http.StatusSeeOther || !strings.HasPrefix(resp.Header.Get("Location"), "/login?next=") {
		t.Fatalf("anonymous page: %d %s, want a redirect to /login", resp.StatusCode, resp.Header.Get("Location"))
	}
	if resp, _ := b.do("GET", "/agent/api/thing", nil, nil); resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("anonymous API: %d, want 401", resp.StatusCode)
	}
	if resp := b.login("ana@example.com", "wrong password!"); resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("wrong password: %d, want 401", resp.StatusCode)
	}
	resp := b.login("ANA@example.com", "correct horse battery")
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/agent" {
		t.Fatalf("login: %d → %s", resp.StatusCode, resp.Header.Get("Location"))
	}
	for _, c := range resp.Cookies() {
		if c.Name == auth.SessionCookie && (!c.HttpOnly || c.SameSite != http.SameSiteLaxMode) {
			t.Fatalf("session cookie %+v: want HttpOnly and SameSite=Lax", c)
		}
	}
	first := b.cookie(auth.SessionCookie)
	if _, body := b.do("GET", "/agent", nil, nil); body != "hello ana" {
		t.Fatalf("signed-in page: %q", body)
	}
	// An agent is not an editor.
	if resp, _ := b.do("GET", "/kb/", nil, nil); resp.StatusCode != http.StatusForbidden {
		t.Fatalf("agent on the editor: %d, want 403", resp.StatusCode)
	}
	// Signing in again rotates the token; the old one is dead.
	b.login("ana@example.com", "correct horse battery")
	if second := b.cookie(auth.SessionCookie); second == first || second == "" {
		t.Fatal("the session token was not rotated on login")
	}
	old := e.browser()
	u, _ := url.Parse(e.srv.URL)
	old.jar.SetCookies(u, []*http.Cookie{{Name: auth.SessionCookie, Value: first}})
	if resp, _ := old.do("GET", "/agent/api/thing", nil, nil); resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("rotated-out token: %d, want 401", resp.StatusCode)
	}
	// Editor reaches the editor, not the panel.
	ed := e.browser()
	ed.login("ed@example.com", "correct horse battery")
	if _, body := ed.do("GET", "/kb/", nil, nil); body != "hello ed" {
		t.Fatalf("editor on /kb/: %q", body)
	}
	if resp, _ := ed.do("GET", "/agent/api/thing", nil, nil); resp.StatusCode != http.StatusForbidden {
		t.Fatalf("editor on the agent API: %d, want 403", resp.StatusCode)
	}
}

func TestSessionsExpireWhenIdleAndAtMaxAge(t *testing.T) {
	e := newEnv(t)
	e.account("ana@example.com", "agent")
	b := e.browser()
	b.login("ana@example.com", "correct horse battery")
	// Used every 50 minutes, an idle timeout of one hour never strikes…
	for i := 0; i < 3; i++ {
		e.clock.Add(50 * time.Minute)
		if resp, _ := b.do("GET", "/agent/api/thing", nil, nil); resp.StatusCode != 200 {
			t.Fatalf("active session refused after %d×50m: %d", i+1, resp.StatusCode)
		}
	}
	// …but an hour of silence does.
	e.clock.Add(61 * time.Minute)
	if resp, _ := b.do("GET", "/agent/api/thing", nil, nil); resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("idle session: %d, want 401", resp.StatusCode)
	}
	if resp, _ := b.do("GET", "/agent", nil, nil); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("idle session page: %d, want a redirect to the login page", resp.StatusCode)
	}
	// The absolute limit ends even a busy session.
	b.login("ana@example.com", "correct horse battery")
	for i := 0; i < 30; i++ {
		e.clock.Add(50 * time.Minute)
		resp, _ := b.do("GET", "/agent/api/thing", nil, nil)
		if resp.StatusCode == http.StatusUnauthorized {
			if elapsed := time.Duration(i+1) * 50 * time.Minute; elapsed < 24*time.Hour {
				t.Fatalf("session ended after %s, before its 24h maximum", elapsed)
			}
			return
		}
	}
	t.Fatal("session outlived its 24h maximum age")
}

func TestStateChangesNeedTheSessionsCSRFToken(t *testing.T) {
	e := newEnv(t)
	e.account("ana@example.com", "agent")
	b := e.browser()
	b.login("ana@example.com", "correct horse battery")
	tok := b.cookie(auth.CSRFCookie)
	if tok == "" {
		t.Fatal("no CSRF cookie after login")
	}
	cases := []struct {
		name string
		hdr  map[string]string
		want int
	}{
		{"no token", map[string]string{}, http.StatusForbidden},
		{"wrong token", map[string]string{auth.CSRFHeader: "forged"}, http.StatusForbidden},
		{"other site", map[string]string{auth.CSRFHeader: tok, "Origin": "https://evil.example"}, http.StatusForbidden},
		{"cross-site fetch", map[string]string{auth.CSRFHeader: tok, "Sec-Fetch-Site": "cross-site"}, http.StatusForbidden},
		{"right token", map[string]string{auth.CSRFHeader: tok, "Origin": e.srv.URL}, http.StatusOK},
	}
	for _, c := range cases {
		if resp, body := b.do("POST", "/agent/api/thing", nil, c.hdr); resp.StatusCode != c.want {
			t.Errorf("%s: %d %s, want %d", c.name, resp.StatusCode, body, c.want)
		}
	}
	// Logout needs the token too, then the session is gone.
	if resp, _ := b.do("POST", "/logout", nil, nil); resp.StatusCode != http.StatusForbidden {
		t.Fatalf("logout without a token: %d, want 403", resp.StatusCode)
	}
	if resp, _ := b.do("POST", "/logout", nil, map[string]string{auth.CSRFHeader: tok}); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("logout: %d", resp.StatusCode)
	}
	if resp, _ := b.do("GET", "/agent/api/thing", nil, nil); resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("after logout: %d, want 401", resp.StatusCode)
	}
}

func TestLoginIsThrottledAndDisabledAccountsAreOut(t *testing.T) {
	e := newEnv(t)
	a := e.account("ana@example.com", "agent")
	b := e.browser()
	codes := []int{}
	for i := 0; i < 7; i++ {
		codes = append(codes, b.login("ana@example.com", "guess number "+string(rune('a'+i))).StatusCode)
	}
	if codes[0] != http.StatusUnauthorized || codes[6] != http.StatusTooManyRequests {
		t.Fatalf("7 wrong passwords in a row: %v, want 401 first and 429 at the end", codes)
	}
	// Even the right password waits out the throttle.
	if got := b.login("ana@example.com", "correct horse battery").StatusCode; got != http.StatusTooManyRequests {
		t.Fatalf("right password while throttled: %d, want 429", got)
	}
	e.clock.Add(2 * time.Minute)
	if got := b.login("ana@example.com", "correct horse battery").StatusCode; got != http.StatusSeeOther {
		t.Fatalf("after the throttle: %d, want a sign-in", got)
	}
	a.Disabled = true
	if err := e.st.UpdateAccount(context.Background(), a); err != nil {
		t.Fatal(err)
	}
	if resp, _ := b.do("GET", "/agent/api/thing", nil, nil); resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("disabled account's session: %d, want 401", resp.StatusCode)
	}
	e.clock.Add(2 * time.Minute)
	if got := b.login("ana@example.com", "correct horse battery").StatusCode; got != http.StatusUnauthorized {
		t.Fatalf("disabled account login: %d, want 401", got)
	}
}

func TestGeneratedPasswordMustBeChangedFirst(t *testing.T) {
	e := newEnv(t)
	a, err := e.auth.Create(context.Background(), auth.Account{Email: "admin@localhost", Name: "Admin",
		Roles: []string{"admin"}, MustChangePassword: true}, "generated password 1")
	if err != nil {
		t.Fatal(err)
	}
	_ = a
	b := e.browser()
	resp := b.login("admin@localhost", "generated password 1")
	if loc := resp.Header.Get("Location"); !strings.HasPrefix(loc, "/account/password") {
		t.Fatalf("login with a generated password lands on %q, want the password page", loc)
	}
	if resp, _ := b.do("GET", "/agent/api/thing", nil, nil); resp.StatusCode != http.StatusForbidden {
		t.Fatalf("API before the change: %d, want 403", resp.StatusCode)
	}
	_, page := b.do("GET", "/account/password", nil, nil)
	m := csrfInput.FindStringSubmatch(page)
	if m == nil {
		t.Fatalf("password page without CSRF: %s", page)
	}
	form := url.Values{"current": {"generated password 1"}, "new": {"my own passphrase"}, "confirm": {"my own passphrase"},
		"csrf_token": {m[1]}, "next": {"/agent"}}
	resp, body := b.do("POST", "/account/password", strings.NewReader(form.Encode()),
		map[string]string{"Content-Type": "application/x-www-form-urlencoded"})
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("change password: %d %s", resp.StatusCode, body)
	}
	if resp, _ := b.do("GET", "/agent/api/thing", nil, nil); resp.StatusCode != 200 {
		t.Fatalf("API after the change: %d", resp.StatusCode)
	}
	e.clock.Add(2 * time.Minute)
	if got := e.browser().login("admin@localhost", "generated password 1").StatusCode; got != http.StatusUnauthorized {
		t.Fatalf("old password still works: %d", got)
	}
}

func TestAccountsAreValidated(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	bad := []struct {
		a  auth.Account
		pw string
	}{
		{auth.Account{Email: "not an email", Name: "x", Roles: []string{"agent"}}, "long enough pw"},
		{auth.Account{Email: "a@b.c", Name: "", Roles: []string{"agent"}}, "long enough pw"},
		{auth.Account{Email: "a@b.c", Name: "x", Roles: []string{"boss"}}, "long enough pw"},
		{auth.Account{Email: "a@b.c", Name: "x", Roles: []string{"agent"}}, "short"},
		{auth.Account{Email: "a@b.c", Name: "x", Roles: []string{"agent"}}, strings.Repeat("x", 73)},
	}
	for _, c := range bad {
		if _, err := e.auth.Create(ctx, c.a, c.pw); err == nil {
			t.Errorf("Create(%+v, %d-char password) accepted", c.a, len(c.pw))
		}
	}
	e.account("dup@example.com", "agent")
	if _, err := e.auth.Create(ctx, auth.Account{Email: "Dup@example.com", Name: "Dup", Roles: []string{"agent"}}, "long enough pw"); err == nil {
		t.Error("a second account with the same email (other case) was accepted")
	}
}
