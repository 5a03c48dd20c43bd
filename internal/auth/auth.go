package auth

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/rs/zerolog"
	"golang.org/x/crypto/bcrypt"

	"github.com/conciergehq/concierge"
	"github.com/conciergehq/concierge/internal/httpx"
)

// Store is what accounts and sessions need from the database.
type Store interface {
	CreateAccount(ctx context.Context, a Account) (Account, error)
	Account(ctx context.Context, id int64) (Account, error)
	AccountByEmail(ctx context.Context, email string) (Account, error)
	Accounts(ctx context.Context) ([]Account, error)
	UpdateAccount(ctx context.Context, a Account) error
	SetPassword(ctx context.Context, id int64, hash string, mustChange bool, keepSession string) error
	StartSession(ctx context.Context, s Session, replaces string) error
	Session(ctx context.Context, id string) (Session, error)
	TouchSession(ctx context.Context, id string, t time.Time) error
	EndSession(ctx context.Context, id string) error
	PruneSessions(ctx context.Context, now, idleBefore time.Time) (int64, error)
}

// Options tune sessions and sign-in; zero values take the defaults in brackets.
type Options struct {
	MaxAge time.Duration // absolute session lifetime [168h]
	Idle   time.Duration // idle timeout [12h]
	// AttemptsPerMinute per email and per client address [5].
	AttemptsPerMinute int
	// BcryptCost [12]; tests use bcrypt.MinCost.
	BcryptCost int
	// SecureCookies marks cookies Secure even on plain HTTP requests (TLS ends at a proxy
	// and the public URL is https). Requests that arrive over TLS always get Secure.
	SecureCookies bool
	TrustProxy    bool
	// Home is where a sign-in without a "next" page lands [/agent].
	Home string
	// Now replaces the clock (tests).
	Now func() time.Time
	// PasswordChanged is told after an account changed its own password.
	PasswordChanged func(Account)
}

// Cookie names.
const (
	SessionCookie = "concierge_session"
	// CSRFCookie is readable by the page's scripts, which echo it in X-CSRF-Token. The
	// server compares the echo with the token stored with the session, not with the
	// cookie, so a cookie planted by a sibling site cannot forge it.
	CSRFCookie  = "concierge_csrf"
	loginCookie = "concierge_login"
	CSRFHeader  = "X-CSRF-Token"
	csrfField   = "csrf_token"
)

// Password length limits: bcrypt reads at most 72 bytes, and refusing longer ones beats
// silently ignoring their tail.
const (
	MinPassword = 10
	MaxPassword = 72
)

// Service signs people in and guards handlers; it implements httpx.Auth.
type Service struct {
	store   Store
	opts    Options
	log     zerolog.Logger
	byIP    *throttle
	byEmail *throttle
	// dummy is a hash to compare against for unknown emails, so timing reveals nothing;
	// made on first use (commands that never sign anyone in should not pay for it).
	dummyOnce sync.Once
	dummy     []byte
}

// New returns the service.
func New(st Store, opts Options, log zerolog.Logger) *Service {
	if opts.MaxAge <= 0 {
		opts.MaxAge = 7 * 24 * time.Hour
	}
	if opts.Idle <= 0 {
		opts.Idle = 12 * time.Hour
	}
	if opts.AttemptsPerMinute <= 0 {
		opts.AttemptsPerMinute = 5
	}
	if opts.BcryptCost == 0 {
		opts.BcryptCost = 12
	}
	if opts.Home == "" {
		opts.Home = "/agent"
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	return &Service{store: st, opts: opts, log: log.With().Str("component", "auth").Logger(),
		byIP:    newThrottle(opts.AttemptsPerMinute*4, time.Minute, opts.Now),
		byEmail: newThrottle(opts.AttemptsPerMinute, time.Minute, opts.Now)}
}

// SetPasswordChanged sets the hook told after an account changed its own password.
func (s *Service) SetPasswordChanged(f func(Account)) { s.opts.PasswordChanged = f }

// CheckPassword refuses passwords bcrypt cannot take or that are too short to resist guessing.
func CheckPassword(pw string) error {
	switch {
	case utf8.RuneCountInString(pw) < MinPassword:
		return concierge.Invalidf("the password must have at least %d characters", MinPassword)
	case len(pw) > MaxPassword:
		return concierge.Invalidf("the password must have at most %d bytes", MaxPassword)
	}
	return nil
}

// Hash hashes a password with the configured bcrypt cost.
func (s *Service) Hash(pw string) (string, error) {
	if err := CheckPassword(pw); err != nil {
		return "", err
	}
	h, err := bcrypt.GenerateFromPassword([]byte(pw), s.opts.BcryptCost)
	if err != nil {
		return "", fmt.Errorf("auth: hash password: %w", err)
	}
	return string(h), nil
}

// Create adds an account with a password.
func (s *Service) Create(ctx context.Context, a Account, password string) (Account, error) {
	if err := a.Normalise(); err != nil {
		return a, fmt.Errorf("auth: create account: %w", err)
	}
	h, err := s.Hash(password)
	if err != nil {
		return a, fmt.Errorf("auth: create account: %w", err)
	}
	a.PasswordHash = h
	return s.store.CreateAccount(ctx, a)
}

// SetPassword replaces an account's password and ends its other sessions.
func (s *Service) SetPassword(ctx context.Context, id int64, password string, mustChange bool, keepSession string) error {
	h, err := s.Hash(password)
	if err != nil {
		return fmt.Errorf("auth: set password: %w", err)
	}
	return s.store.SetPassword(ctx, id, h, mustChange, keepSession)
}

// ErrBadCredentials is the one answer to a wrong email, a wrong password or a disabled
// account: telling them apart would tell an attacker which emails exist.
var ErrBadCredentials = errors.New("wrong email or password")

// ErrThrottled means too many sign-in attempts in a short time.
var ErrThrottled = errors.New("too many sign-in attempts; wait a minute and try again")

// Authenticate checks an email and password, throttled per email and per client address.
func (s *Service) Authenticate(ctx context.Context, email, password, ip string) (Account, error) {
	email = strings.ToLower(strings.TrimSpace(email))
	if !s.byIP.Allow(ip) || !s.byEmail.Allow(email) {
		s.log.Warn().Str("email", email).Str("ip", ip).Msg("sign-in throttled")
		return Account{}, ErrThrottled
	}
	a, err := s.store.AccountByEmail(ctx, email)
	if errors.Is(err, concierge.ErrNotFound) {
		s.dummyOnce.Do(func() { s.dummy, _ = bcrypt.GenerateFromPassword([]byte("no such account"), s.opts.BcryptCost) })
		_ = bcrypt.CompareHashAndPassword(s.dummy, []byte(password))
		s.log.Info().Str("email", email).Str("ip", ip).Msg("sign-in failed: unknown email")
		return Account{}, ErrBadCredentials
	}
	if err != nil {
		return Account{}, fmt.Errorf("auth: authenticate: %w", err)
	}
	if bcrypt.CompareHashAndPassword([]byte(a.PasswordHash), []byte(password)) != nil || a.Disabled {
		s.log.Info().Str("email", email).Str("ip", ip).Bool("disabled", a.Disabled).Msg("sign-in failed")
		return Account{}, ErrBadCredentials
	}
	return a, nil
}

// token returns a random URL-safe token of 32 bytes.
func token() string {
	b := make([]byte, 32)
	_, _ = rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

func hashToken(t string) string {
	h := sha256.Sum256([]byte(t))
	return hex.EncodeToString(h[:])
}

// StartSession signs a in on w: a new session token every time (rotation on login, so a
// token planted before sign-in is worthless), replacing the request's old session.
func (s *Service) StartSession(ctx context.Context, w http.ResponseWriter, r *http.Request, a Account) (Session, error) {
	now := s.opts.Now()
	tok := token()
	sess := Session{ID: hashToken(tok), AccountID: a.ID, CSRF: token(), IP: httpx.ClientIP(r, s.opts.TrustProxy),
		UserAgent: truncate(r.UserAgent(), 200), CreatedAt: now, SeenAt: now, ExpiresAt: now.Add(s.opts.MaxAge)}
	old := ""
	if c, err := r.Cookie(SessionCookie); err == nil && c.Value != "" {
		old = hashToken(c.Value)
	}
	if err := s.store.StartSession(ctx, sess, old); err != nil {
		return sess, fmt.Errorf("auth: start session: %w", err)
	}
	s.setCookies(w, r, tok, sess.CSRF, sess.ExpiresAt)
	return sess, nil
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n]
}

func (s *Service) secure(r *http.Request) bool { return r.TLS != nil || s.opts.SecureCookies }

func (s *Service) setCookies(w http.ResponseWriter, r *http.Request, tok, csrf string, expires time.Time) {
	maxAge := int(time.Until(expires).Seconds())
	if tok == "" {
		maxAge = -1
	}
	http.SetCookie(w, &http.Cookie{Name: SessionCookie, Value: tok, Path: "/", MaxAge: maxAge, HttpOnly: true,
		Secure: s.secure(r), SameSite: http.SameSiteLaxMode})
	http.SetCookie(w, &http.Cookie{Name: CSRFCookie, Value: csrf, Path: "/", MaxAge: maxAge,
		Secure: s.secure(r), SameSite: http.SameSiteLaxMode})
}

// errNoSession means the request is not signed in (no cookie, unknown, expired or idle).
var errNoSession = errors.New("not signed in or the session expired")

// Lookup returns the request's session and account when it is signed in and valid.
func (s *Service) Lookup(ctx context.Context, r *http.Request) (Session, Account, error) {
	c, err := r.Cookie(SessionCookie)
	if err != nil || c.Value == "" || len(c.Value) > 100 {
		return Session{}, Account{}, errNoSession
	}
	sess, err := s.store.Session(ctx, hashToken(c.Value))
	if errors.Is(err, concierge.ErrNotFound) {
		return sess, Account{}, errNoSession
	}
	if err != nil {
		return sess, Account{}, err
	}
	now := s.opts.Now()
	if !now.Before(sess.ExpiresAt) || now.Sub(sess.SeenAt) >= s.opts.Idle {
		if err := s.store.EndSession(ctx, sess.ID); err != nil {
			s.log.Warn().Err(err).Msg("cannot delete an expired session")
		}
		return sess, Account{}, errNoSession
	}
	a, err := s.store.Account(ctx, sess.AccountID)
	if errors.Is(err, concierge.ErrNotFound) || (err == nil && a.Disabled) {
		return sess, Account{}, errNoSession
	}
	if err != nil {
		return sess, Account{}, err
	}
	// Record use at most once a minute: idle expiry needs no finer clock, and a write per
	// request would cost more than the request.
	if now.Sub(sess.SeenAt) > time.Minute {
		if err := s.store.TouchSession(ctx, sess.ID, now); err != nil {
			s.log.Warn().Err(err).Msg("cannot record session use")
		}
	}
	return sess, a, nil
}

type ctxKey int

const (
	sessionKey ctxKey = iota
	accountKey
)

// SessionFrom returns the session of a request that passed Require.
func SessionFrom(ctx context.Context) (Session, bool) {
	v, ok := ctx.Value(sessionKey).(Session)
	return v, ok
}

// AccountFrom returns the account of a request that passed Require.
func AccountFrom(ctx context.Context) (Account, bool) {
	v, ok := ctx.Value(accountKey).(Account)
	return v, ok
}

// IsAPI reports whether a request wants a JSON answer rather than a page: paths with an
// /api/ segment, JSON Accept headers, WebSocket upgrades.
func IsAPI(r *http.Request) bool {
	return strings.Contains(r.URL.Path, "/api/") || strings.Contains(r.Header.Get("Accept"), "application/json") ||
		strings.EqualFold(r.Header.Get("Upgrade"), "websocket")
}

func safeMethod(m string) bool {
	return m == http.MethodGet || m == http.MethodHead || m == http.MethodOptions
}

// Require implements httpx.Auth: the request goes through with its user (httpx.UserFrom)
// and session (SessionFrom) in the context when it is signed in, holds role ("" for any
// role) and, for state-changing methods, carries the session's CSRF token from the same
// origin. Otherwise API requests get 401/403 JSON and pages go to the login page.
func (s *Service) Require(role string, h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		sess, a, err := s.Lookup(r.Context(), r)
		switch {
		case errors.Is(err, errNoSession):
			if IsAPI(r) {
				httpx.Error(w, r, http.StatusUnauthorized, err)
				return
			}
			http.Redirect(w, r, "/login?next="+url.QueryEscape(r.URL.RequestURI()), http.StatusSeeOther)
			return
		case err != nil:
			httpx.Error(w, r, http.StatusInternalServerError, err)
			return
		}
		if a.MustChangePassword && r.URL.Path != passwordPath {
			if IsAPI(r) {
				httpx.Error(w, r, http.StatusForbidden, errors.New("change your password first at "+passwordPath))
				return
			}
			http.Redirect(w, r, passwordPath+"?next="+url.QueryEscape(r.URL.RequestURI()), http.StatusSeeOther)
			return
		}
		if !a.Has(role) {
			s.forbidden(w, r, fmt.Errorf("this needs the %s role", role))
			return
		}
		if !safeMethod(r.Method) {
			if err := s.checkCSRF(r, sess); err != nil {
				s.log.Warn().Err(err).Int64("account", a.ID).Str("path", r.URL.Path).Msg("refused a request without a valid CSRF token")
				s.forbidden(w, r, err)
				return
			}
		}
		ctx := httpx.WithUser(r.Context(), a.User())
		ctx = context.WithValue(ctx, sessionKey, sess)
		ctx = context.WithValue(ctx, accountKey, a)
		h.ServeHTTP(w, r.WithContext(ctx))
	})
}

func (s *Service) forbidden(w http.ResponseWriter, r *http.Request, err error) {
	if IsAPI(r) {
		httpx.Error(w, r, http.StatusForbidden, err)
		return
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.WriteHeader(http.StatusForbidden)
	fmt.Fprintln(w, "Forbidden:", err)
}

// ErrCSRF is a state-changing request without the session's token or from another site.
var ErrCSRF = errors.New("missing or wrong CSRF token; reload the page")

func (s *Service) checkCSRF(r *http.Request, sess Session) error {
	if !SameOrigin(r) {
		return fmt.Errorf("%w (cross-site request)", ErrCSRF)
	}
	got := r.Header.Get(CSRFHeader)
	if got == "" && strings.HasPrefix(r.Header.Get("Content-Type"), "application/x-www-form-urlencoded") {
		got = r.PostFormValue(csrfField)
	}
	if got == "" || subtle.ConstantTimeCompare([]byte(got), []byte(sess.CSRF)) != 1 {
		return ErrCSRF
	}
	return nil
}

// SameOrigin reports whether a request comes from a page of this server: the browser's
// Sec-Fetch-Site or Origin header, when present, must name our own origin. Requests
// without either (curl, old browsers) rely on the CSRF token alone. WebSocket upgrades
// use it as their CheckOrigin.
func SameOrigin(r *http.Request) bool {
	if site := r.Header.Get("Sec-Fetch-Site"); site != "" && site != "same-origin" && site != "none" {
		return false
	}
	origin := r.Header.Get("Origin")
	if origin == "" {
		return true
	}
	u, err := url.Parse(origin)
	if err != nil {
		return false
	}
	host := r.Host
	if fh := r.Header.Get("X-Forwarded-Host"); fh != "" {
		host = fh
	}
	return strings.EqualFold(u.Host, host)
}

// Prune deletes expired and idle sessions; run it now and then.
func (s *Service) Prune(ctx context.Context) (int64, error) {
	now := s.opts.Now()
	return s.store.PruneSessions(ctx, now, now.Add(-s.opts.Idle))
}

// Run prunes sessions hourly until ctx ends.
func (s *Service) Run(ctx context.Context) error {
	t := time.NewTicker(time.Hour)
	defer t.Stop()
	for {
		if n, err := s.Prune(ctx); err != nil && ctx.Err() == nil {
			s.log.Warn().Err(err).Msg("pruning sessions failed; retrying in an hour")
		} else if n > 0 {
			s.log.Debug().Int64("sessions", n).Msg("pruned expired sessions")
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

// RandomPassword returns a generated password with 128 bits of entropy.
func RandomPassword() string { return rand.Text() }

// Check re-validates a session a long-lived connection (WebSocket) was opened with: it
// fails once the session expired, was ended (logout, password change) or its account was
// disabled.
func (s *Service) Check(ctx context.Context, sess Session) (Account, error) {
	cur, err := s.store.Session(ctx, sess.ID)
	if err != nil {
		return Account{}, errNoSession
	}
	now := s.opts.Now()
	if !now.Before(cur.ExpiresAt) || now.Sub(cur.SeenAt) >= s.opts.Idle {
		return Account{}, errNoSession
	}
	a, err := s.store.Account(ctx, cur.AccountID)
	if err != nil || a.Disabled {
		return Account{}, errNoSession
	}
	if now.Sub(cur.SeenAt) > time.Minute {
		_ = s.store.TouchSession(ctx, cur.ID, now)
	}
	return a, nil
}
