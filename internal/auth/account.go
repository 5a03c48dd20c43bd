// Package auth is who may do what: agent, editor and admin accounts with bcrypt
// passwords, cookie sessions with expiry and rotation, CSRF tokens on every state-changing
// request, login throttling, and the login, logout and password pages. Service implements
// httpx.Auth, the guard every web UI (agent panel, KB editor, attachments) sits behind.
package auth

import (
	"net/mail"
	"slices"
	"strings"
	"time"

	"github.com/conciergehq/concierge"
	"github.com/conciergehq/concierge/internal/httpx"
)

// Roles an account may hold; one person may hold several. Admins may do everything.
var Roles = []string{httpx.RoleAdmin, httpx.RoleAgent, httpx.RoleEditor}

// Account is one person who signs in.
type Account struct {
	ID    int64    `json:"id"`
	Email string   `json:"email"`
	Name  string   `json:"name"`
	Roles []string `json:"roles"`
	// Teams the person answers for (agents); admins act on every team.
	Teams []string `json:"teams"`
	// MaxChats overrides the configured number of concurrent chats (0: the default).
	MaxChats     int    `json:"max_chats,omitempty"`
	Disabled     bool   `json:"disabled"`
	PasswordHash string `json:"-"`
	// MustChangePassword sends the person to the password page before anything else
	// (the generated first admin password).
	MustChangePassword bool       `json:"must_change_password,omitempty"`
	CreatedAt          time.Time  `json:"created_at"`
	UpdatedAt          time.Time  `json:"updated_at"`
	LastLoginAt        *time.Time `json:"last_login_at,omitempty"`
}

// Has reports whether the account holds role (admins hold every role).
func (a Account) Has(role string) bool {
	return role == "" || slices.Contains(a.Roles, role) || slices.Contains(a.Roles, httpx.RoleAdmin)
}

// Admin reports whether the account is an admin.
func (a Account) Admin() bool { return slices.Contains(a.Roles, httpx.RoleAdmin) }

// InTeam reports whether the account answers for team (admins answer for all).
func (a Account) InTeam(team string) bool { return a.Admin() || slices.Contains(a.Teams, team) }

// User is the account as the request context carries it.
func (a Account) User() httpx.User {
	return httpx.User{ID: a.ID, Email: a.Email, Name: a.Name, Roles: slices.Clone(a.Roles)}
}

// Normalise cleans an account's fields and refuses what cannot be stored.
func (a *Account) Normalise() error {
	a.Email = strings.ToLower(strings.TrimSpace(a.Email))
	a.Name = strings.TrimSpace(a.Name)
	if addr, err := mail.ParseAddress(a.Email); err != nil || addr.Address != a.Email || len(a.Email) > 254 {
		return concierge.Invalidf("email %q is not an address", a.Email)
	}
	if a.Name == "" || len(a.Name) > 100 {
		return concierge.Invalidf("name must be 1-100 characters")
	}
	var roles []string
	for _, r := range a.Roles {
		r = strings.ToLower(strings.TrimSpace(r))
		if r == "" {
			continue
		}
		if !slices.Contains(Roles, r) {
			return concierge.Invalidf("role %q: want admin, agent or editor", r)
		}
		if !slices.Contains(roles, r) {
			roles = append(roles, r)
		}
	}
	if len(roles) == 0 {
		return concierge.Invalidf("an account needs at least one role (admin, agent, editor)")
	}
	a.Roles = roles
	var teams []string
	for _, t := range a.Teams {
		t = strings.ToLower(strings.TrimSpace(t))
		if t != "" && !slices.Contains(teams, t) {
			teams = append(teams, t)
		}
	}
	a.Teams = teams
	if a.MaxChats < 0 || a.MaxChats > 100 {
		return concierge.Invalidf("max chats %d: want 0-100", a.MaxChats)
	}
	return nil
}

// Session is one signed-in browser. Only a hash of its cookie token is stored, so a copy
// of the database does not let anyone sign in.
type Session struct {
	// ID is the hex SHA-256 of the cookie token.
	ID        string
	AccountID int64
	// CSRF is the token state-changing requests must echo (X-CSRF-Token or csrf_token).
	CSRF      string
	IP        string
	UserAgent string
	CreatedAt time.Time
	SeenAt    time.Time
	ExpiresAt time.Time
}
