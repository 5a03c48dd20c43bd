package auth

import (
	"crypto/subtle"
	"errors"
	"html/template"
	"net/http"
	"strings"

	"github.com/conciergehq/concierge/internal/httpx"
)

const passwordPath = "/account/password"

// Routes mounts the sign-in pages: GET/POST /login, POST /logout, GET/POST
// /account/password and GET /api/me.
func (s *Service) Routes(mux *http.ServeMux) {
	mux.HandleFunc("GET /login", s.loginPage)
	mux.HandleFunc("POST /login", s.login)
	mux.HandleFunc("POST /logout", s.logout)
	mux.Handle("GET "+passwordPath, s.Require("", http.HandlerFunc(s.passwordPage)))
	mux.Handle("POST "+passwordPath, s.Require("", http.HandlerFunc(s.changePassword)))
	mux.Handle("GET /api/me", s.Require("", http.HandlerFunc(s.me)))
}

func (s *Service) me(w http.ResponseWriter, r *http.Request) {
	a, _ := AccountFrom(r.Context())
	httpx.JSON(w, http.StatusOK, a)
}

// page strings in the languages the product speaks.
var pageText = map[string]map[string]string{
	"en": {
		"title": "Sign in — Concierge", "heading": "Sign in", "email": "Email", "password": "Password",
		"submit": "Sign in", "bad": "Wrong email or password.", "throttled": "Too many attempts. Wait a minute and try again.",
		"expired": "The form expired; please try again.", "pwtitle": "Change password — Concierge", "pwheading": "Change your password",
		"current": "Current password", "new": "New password", "confirm": "New password again", "save": "Save",
		"mismatch": "The new passwords differ.", "wrongcurrent": "The current password is wrong.",
		"mustchange": "Choose your own password before you continue.", "hint": "At least 10 characters.",
	},
	"zh": {
		"title": "登录 — Concierge", "heading": "登录", "email": "邮箱", "password": "密码",
		"submit": "登录", "bad": "邮箱或密码错误。", "throttled": "尝试次数过多，请一分钟后再试。",
		"expired": "表单已过期，请重试。", "pwtitle": "修改密码 — Concierge", "pwheading": "修改密码",
		"current": "当前密码", "new": "新密码", "confirm": "再次输入新密码", "save": "保存",
		"mismatch": "两次输入的新密码不一致。", "wrongcurrent": "当前密码错误。",
		"mustchange": "继续之前请设置您自己的密码。", "hint": "至少 10 个字符。",
	},
}

func lang(r *http.Request) string {
	al := strings.ToLower(r.Header.Get("Accept-Language"))
	if strings.HasPrefix(al, "zh") {
		return "zh"
	}
	return "en"
}

var pageTmpl = template.Must(template.New("page").Parse(`<!doctype html>
<html lang="{{.Lang}}"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>{{.Title}}</title>
<style>
body{font:15px/1.5 system-ui,sans-serif;background:#f3f4f6;margin:0;display:flex;min-height:100vh;align-items:center;justify-content:center;color:#111827}
form{background:#fff;padding:2rem;border-radius:12px;box-shadow:0 4px 24px #0001;width:min(340px,90vw)}
h1{font-size:1.3rem;margin:0 0 1rem}label{display:block;margin:.7rem 0 .2rem;font-weight:600}
input{width:100%;box-sizing:border-box;padding:.55rem;border:1px solid #d1d5db;border-radius:8px;font:inherit}
button{margin-top:1.2rem;width:100%;padding:.6rem;border:0;border-radius:8px;background:#2563eb;color:#fff;font:inherit;font-weight:600;cursor:pointer}
.err{background:#fef2f2;color:#991b1b;padding:.5rem .7rem;border-radius:8px}.note{color:#4b5563;font-size:.9rem}
</style></head><body>
{{if .Password}}
<form method="post" action="/account/password" id="password-form">
<h1>{{index .T "pwheading"}}</h1>
{{if .Must}}<p class="note">{{index .T "mustchange"}}</p>{{end}}
{{if .Error}}<p class="err" role="alert" id="error">{{.Error}}</p>{{end}}
<input type="hidden" name="csrf_token" value="{{.CSRF}}"><input type="hidden" name="next" value="{{.Next}}">
<label for="current">{{index .T "current"}}</label><input id="current" name="current" type="password" autocomplete="current-password" required>
<label for="new">{{index .T "new"}}</label><input id="new" name="new" type="password" autocomplete="new-password" minlength="10" maxlength="72" required>
<p class="note">{{index .T "hint"}}</p>
<label for="confirm">{{index .T "confirm"}}</label><input id="confirm" name="confirm" type="password" autocomplete="new-password" required>
<button type="submit">{{index .T "save"}}</button>
</form>
{{else}}
<form method="post" action="/login" id="login-form">
<h1>{{index .T "heading"}}</h1>
{{if .Error}}<p class="err" role="alert" id="error">{{.Error}}</p>{{end}}
<input type="hidden" name="csrf_token" value="{{.CSRF}}"><input type="hidden" name="next" value="{{.Next}}">
<label for="email">{{index .T "email"}}</label><input id="email" name="email" type="email" autocomplete="username" value="{{.Email}}" required autofocus>
<label for="password">{{index .T "password"}}</label><input id="password" name="password" type="password" autocomplete="current-password" required>
<button type="submit" id="sign-in">{{index .T "submit"}}</button>
</form>
{{end}}
</body></html>`))

type pageData struct {
	Lang, Title, Error, CSRF, Next, Email string
	T                                     map[string]string
	Password, Must                        bool
}

func (s *Service) render(w http.ResponseWriter, r *http.Request, status int, d pageData) {
	d.Lang = lang(r)
	d.T = pageText[d.Lang]
	if d.Title == "" {
		d.Title = d.T["title"]
	}
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	h.Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'")
	h.Set("X-Frame-Options", "DENY")
	w.WriteHeader(status)
	_ = pageTmpl.Execute(w, d)
}

// safeNext keeps redirects on this server: a path, never "//host" or a scheme.
func (s *Service) safeNext(next string) string {
	if !strings.HasPrefix(next, "/") || strings.HasPrefix(next, "//") || strings.HasPrefix(next, "/\\") ||
		strings.ContainsAny(next, "\r\n") || strings.HasPrefix(next, "/login") || strings.HasPrefix(next, "/logout") {
		return s.opts.Home
	}
	return next
}

// loginPage shows the form with a login CSRF token (double-submit cookie: there is no
// session yet to tie it to). It shows the form even to a signed-in browser, so people
// can switch accounts; signing in replaces the old session.
func (s *Service) loginPage(w http.ResponseWriter, r *http.Request) {
	s.showLogin(w, r, http.StatusOK, "", "")
}

func (s *Service) showLogin(w http.ResponseWriter, r *http.Request, status int, msg, email string) {
	tok := token()
	http.SetCookie(w, &http.Cookie{Name: loginCookie, Value: tok, Path: "/login", HttpOnly: true,
		Secure: s.secure(r), SameSite: http.SameSiteStrictMode, MaxAge: 3600})
	next := r.URL.Query().Get("next")
	if r.Method == http.MethodPost {
		next = r.PostFormValue("next")
	}
	s.render(w, r, status, pageData{Error: msg, CSRF: tok, Next: s.safeNext(next), Email: email})
}

func (s *Service) login(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, 8<<10)
	if err := r.ParseForm(); err != nil {
		s.showLogin(w, r, http.StatusBadRequest, pageText[lang(r)]["expired"], "")
		return
	}
	email := r.PostFormValue("email")
	c, err := r.Cookie(loginCookie)
	if err != nil || !SameOrigin(r) || subtle.ConstantTimeCompare([]byte(c.Value), []byte(r.PostFormValue(csrfField))) != 1 {
		s.showLogin(w, r, http.StatusForbidden, pageText[lang(r)]["expired"], email)
		return
	}
	a, err := s.Authenticate(r.Context(), email, r.PostFormValue("password"), httpx.ClientIP(r, s.opts.TrustProxy))
	switch {
	case errors.Is(err, ErrThrottled):
		w.Header().Set("Retry-After", "60")
		s.showLogin(w, r, http.StatusTooManyRequests, pageText[lang(r)]["throttled"], email)
		return
	case errors.Is(err, ErrBadCredentials):
		s.showLogin(w, r, http.StatusUnauthorized, pageText[lang(r)]["bad"], email)
		return
	case err != nil:
		httpx.Error(w, r, http.StatusInternalServerError, err)
		return
	}
	if _, err := s.StartSession(r.Context(), w, r, a); err != nil {
		httpx.Error(w, r, http.StatusInternalServerError, err)
		return
	}
	s.log.Info().Int64("account", a.ID).Str("ip", httpx.ClientIP(r, s.opts.TrustProxy)).Msg("signed in")
	http.SetCookie(w, &http.Cookie{Name: loginCookie, Value: "", Path: "/login", MaxAge: -1})
	next := s.safeNext(r.PostFormValue("next"))
	if a.MustChangePassword {
		next = passwordPath + "?next=" + next
	}
	http.Redirect(w, r, next, http.StatusSeeOther)
}

// logout ends the session. It needs the session's CSRF token, so another site cannot
// sign people out.
func (s *Service) logout(w http.ResponseWriter, r *http.Request) {
	sess, _, err := s.Lookup(r.Context(), r)
	if err == nil {
		if err := s.checkCSRF(r, sess); err != nil {
			s.forbidden(w, r, err)
			return
		}
		if err := s.store.EndSession(r.Context(), sess.ID); err != nil {
			httpx.Error(w, r, http.StatusInternalServerError, err)
			return
		}
	}
	s.setCookies(w, r, "", "", s.opts.Now())
	if IsAPI(r) {
		w.WriteHeader(http.StatusNoContent)
		return
	}
	http.Redirect(w, r, "/login", http.StatusSeeOther)
}

func (s *Service) passwordPage(w http.ResponseWriter, r *http.Request) {
	sess, _ := SessionFrom(r.Context())
	a, _ := AccountFrom(r.Context())
	s.render(w, r, http.StatusOK, pageData{Password: true, Must: a.MustChangePassword, CSRF: sess.CSRF,
		Next: s.safeNext(r.URL.Query().Get("next")), Title: pageText[lang(r)]["pwtitle"]})
}

func (s *Service) changePassword(w http.ResponseWriter, r *http.Request) {
	sess, _ := SessionFrom(r.Context())
	a, _ := AccountFrom(r.Context())
	t := pageText[lang(r)]
	fail := func(status int, msg string) {
		s.render(w, r, status, pageData{Password: true, Must: a.MustChangePassword, CSRF: sess.CSRF, Error: msg,
			Next: s.safeNext(r.PostFormValue("next")), Title: t["pwtitle"]})
	}
	cur, pw := r.PostFormValue("current"), r.PostFormValue("new")
	if _, err := s.Authenticate(r.Context(), a.Email, cur, httpx.ClientIP(r, s.opts.TrustProxy)); err != nil {
		if errors.Is(err, ErrThrottled) {
			fail(http.StatusTooManyRequests, t["throttled"])
			return
		}
		fail(http.StatusUnauthorized, t["wrongcurrent"])
		return
	}
	if pw != r.PostFormValue("confirm") {
		fail(http.StatusBadRequest, t["mismatch"])
		return
	}
	if err := CheckPassword(pw); err != nil {
		fail(http.StatusBadRequest, strings.TrimPrefix(err.Error(), "invalid input: "))
		return
	}
	if err := s.SetPassword(r.Context(), a.ID, pw, false, sess.ID); err != nil {
		httpx.Error(w, r, http.StatusInternalServerError, err)
		return
	}
	s.log.Info().Int64("account", a.ID).Msg("password changed; other sessions ended")
	if s.opts.PasswordChanged != nil {
		a.MustChangePassword = false
		s.opts.PasswordChanged(a)
	}
	http.Redirect(w, r, s.safeNext(r.PostFormValue("next")), http.StatusSeeOther)
}
