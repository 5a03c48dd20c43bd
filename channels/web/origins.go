package web

import (
	"net"
	"net/http"
	"net/url"
	"strings"
)

// origins decides which sites may embed the widget (frame-ancestors, the frame page's
// origin parameter) and open its WebSocket. The server's own origin is always allowed.
type origins struct {
	any  bool
	list []string        // normalised, for the CSP header
	set  map[string]bool // normalised
}

func newOrigins(allowed []string, baseURL string) origins {
	o := origins{set: map[string]bool{}}
	add := func(s string) {
		if n, ok := normalizeOrigin(s); ok && !o.set[n] {
			o.set[n] = true
			o.list = append(o.list, n)
		}
	}
	for _, a := range allowed {
		if strings.TrimSpace(a) == "*" {
			o.any = true
			continue
		}
		add(a)
	}
	if len(allowed) == 0 && baseURL != "" {
		// Only ourselves: the base URL and, for a loopback address, its other spellings
		// (a newcomer opens http://localhost:8080 while the server says 127.0.0.1:8080).
		add(baseURL)
		if u, err := url.Parse(baseURL); err == nil && isLoopback(u.Hostname()) {
			for _, h := range []string{"127.0.0.1", "localhost", "[::1]"} {
				v := *u
				v.Host = h
				if p := u.Port(); p != "" {
					v.Host = net.JoinHostPort(strings.Trim(h, "[]"), p)
				}
				add(v.String())
			}
		}
	}
	return o
}

func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// normalizeOrigin turns "HTTPS://Example.com:443/" into "https://example.com".
func normalizeOrigin(s string) (string, bool) {
	u, err := url.Parse(strings.TrimSpace(s))
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return "", false
	}
	scheme, host := strings.ToLower(u.Scheme), strings.ToLower(u.Host)
	if (scheme == "http" && strings.HasSuffix(host, ":80")) || (scheme == "https" && strings.HasSuffix(host, ":443")) {
		host = host[:strings.LastIndexByte(host, ':')]
	}
	return scheme + "://" + host, true
}

// allowed reports whether a page of origin may use the widget served for r.
func (o origins) allowed(origin string, r *http.Request) bool {
	n, ok := normalizeOrigin(origin)
	if !ok {
		return false
	}
	if o.any || o.set[n] {
		return true
	}
	// Same origin as the request: the chat frame itself, or the demo page.
	_, host, _ := strings.Cut(n, "://")
	return r != nil && strings.EqualFold(host, r.Host)
}

// frameAncestors is the CSP frame-ancestors value for the chat frame.
func (o origins) frameAncestors() string {
	if o.any {
		return "*"
	}
	return strings.TrimSpace("'self' " + strings.Join(o.list, " "))
}
