package httpx

import (
	"context"
	"crypto/subtle"
	"errors"
	"net/http"
	"slices"
	"strings"
)

// Roles.
const (
	RoleAdmin  = "admin"
	RoleAgent  = "agent"
	RoleEditor = "editor"
)

// User is the signed-in person a request acts for.
type User struct {
	ID    int64    `json:"id"`
	Email string   `json:"email"`
	Name  string   `json:"name"`
	Roles []string `json:"roles"`
}

// Has reports whether u holds role (admins hold every role).
func (u User) Has(role string) bool {
	return slices.Contains(u.Roles, role) || slices.Contains(u.Roles, RoleAdmin)
}

// WithUser returns ctx carrying u.
func WithUser(ctx context.Context, u User) context.Context { return context.WithValue(ctx, userKey, u) }

// UserFrom returns the signed-in user of ctx.
func UserFrom(ctx context.Context) (User, bool) {
	u, ok := ctx.Value(userKey).(User)
	return u, ok
}

// Auth guards handlers. The product's implementation is the accounts' sign-in with
// sessions and CSRF (internal/auth); TokenAuth is a fixed-token guard for tests and tools.
type Auth interface {
	// Require lets the request through with its user in the context when the user holds
	// role; otherwise API requests (Accept: application/json, or paths under /api/) get
	// 401/403 and page requests are sent to the login page.
	Require(role string, h http.Handler) http.Handler
}

// TokenAuth admits requests carrying a fixed admin token, as "Authorization: Bearer T",
// or a "concierge_admin" cookie set by visiting a page with ?token=T once.
type TokenAuth struct {
	Token string
}

// ErrNoToken is returned by TokenAuth when the request carries no or a wrong token.
var ErrNoToken = errors.New("missing or wrong admin token")

// Require implements Auth.
func (a TokenAuth) Require(role string, h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got := strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer ")
		fromQuery := false
		if got == "" {
			if c, err := r.Cookie("concierge_admin"); err == nil {
				got = c.Value
			} else if q := r.URL.Query().Get("token"); q != "" && r.Method == http.MethodGet {
				got, fromQuery = q, true
			}
		}
		if a.Token == "" || subtle.ConstantTimeCompare([]byte(got), []byte(a.Token)) != 1 {
			Error(w, r, http.StatusUnauthorized, ErrNoToken)
			return
		}
		if fromQuery {
			http.SetCookie(w, &http.Cookie{Name: "concierge_admin", Value: got, Path: "/", HttpOnly: true,
				SameSite: http.SameSiteStrictMode, Secure: r.TLS != nil})
		}
		u := User{ID: 0, Name: "admin", Email: "admin@localhost", Roles: []string{RoleAdmin}}
		h.ServeHTTP(w, r.WithContext(WithUser(r.Context(), u)))
	})
}
