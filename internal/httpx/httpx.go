// Package httpx is the HTTP plumbing every web-facing package shares: JSON in and out,
// errors that are logged with the request id but not shown, middleware, the signed-in
// user, and a per-key rate limiter.
package httpx

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/rs/zerolog"
	"github.com/rs/zerolog/hlog"

	"github.com/conciergehq/concierge"
)

// JSON writes v with the given status.
func JSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(true)
	_ = enc.Encode(v)
}

// ErrorBody is the shape of every API error.
type ErrorBody struct {
	Error     string `json:"error"`
	RequestID string `json:"request_id,omitempty"`
}

// Error answers with an error. 4xx errors carry their message (the caller's input was the
// problem); 5xx errors are logged with the request id and answered with a generic text.
func Error(w http.ResponseWriter, r *http.Request, status int, err error) {
	id := RequestID(r.Context())
	msg := http.StatusText(status)
	if status < 500 && err != nil {
		msg = err.Error()
	} else if err != nil {
		hlog.FromRequest(r).Error().Err(err).Str("request_id", id).Msg("request failed")
	}
	JSON(w, status, ErrorBody{Error: msg, RequestID: id})
}

// StatusOf maps the shared error kinds to HTTP statuses.
func StatusOf(err error) int {
	switch {
	case err == nil:
		return http.StatusOK
	case errors.Is(err, concierge.ErrNotFound):
		return http.StatusNotFound
	case errors.Is(err, concierge.ErrInvalid):
		return http.StatusBadRequest
	case errors.Is(err, concierge.ErrConflict):
		return http.StatusConflict
	case errors.Is(err, concierge.ErrForbidden):
		return http.StatusForbidden
	}
	return http.StatusInternalServerError
}

// Fail answers with the status StatusOf picks for err.
func Fail(w http.ResponseWriter, r *http.Request, err error) { Error(w, r, StatusOf(err), err) }

// DecodeJSON reads a JSON body of at most limit bytes into v, refusing unknown fields and
// trailing data, with an error that says what was wrong.
func DecodeJSON(w http.ResponseWriter, r *http.Request, v any, limit int64) error {
	if ct := r.Header.Get("Content-Type"); ct != "" && !strings.HasPrefix(ct, "application/json") {
		return concierge.Invalidf("content type %q: want application/json", ct)
	}
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, limit))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		var mbe *http.MaxBytesError
		var se *json.SyntaxError
		var te *json.UnmarshalTypeError
		switch {
		case errors.As(err, &mbe):
			return concierge.Invalidf("body larger than %d bytes", limit)
		case errors.As(err, &se):
			return concierge.Invalidf("malformed JSON at byte %d: %v", se.Offset, err)
		case errors.As(err, &te):
			return concierge.Invalidf("field %q: want %s", te.Field, te.Type)
		case errors.Is(err, io.EOF):
			return concierge.Invalidf("empty body")
		case errors.Is(err, io.ErrUnexpectedEOF):
			return concierge.Invalidf("malformed JSON: the body ends in the middle of a value")
		}
		return concierge.Invalidf("%v", err)
	}
	if dec.More() {
		return concierge.Invalidf("trailing data after the JSON value")
	}
	return nil
}

type ctxKey int

const (
	requestIDKey ctxKey = iota
	userKey
)

// RequestID returns the request's id (set by Middleware).
func RequestID(ctx context.Context) string {
	id, _ := ctx.Value(requestIDKey).(string)
	return id
}

// NewID returns n random bytes, hex-encoded.
func NewID(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b) // crypto/rand.Read never fails on supported platforms
	return hex.EncodeToString(b)
}

// Middleware wraps h with what every request gets: a request id, a logger carrying it,
// panic recovery, an access log line, baseline security headers, and status counting.
func Middleware(log zerolog.Logger, count func(code int), h http.Handler) http.Handler {
	inner := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id := r.Header.Get("X-Request-Id")
		if id == "" || len(id) > 64 {
			id = NewID(8)
		}
		w.Header().Set("X-Request-Id", id)
		w.Header().Set("X-Content-Type-Options", "nosniff")
		w.Header().Set("Referrer-Policy", "strict-origin-when-cross-origin")
		ctx := context.WithValue(r.Context(), requestIDKey, id)
		r = r.WithContext(ctx)
		defer func() {
			if p := recover(); p != nil {
				if p == http.ErrAbortHandler {
					panic(p)
				}
				hlog.FromRequest(r).Error().Str("request_id", id).Interface("panic", p).Msg("handler panicked")
				Error(w, r, http.StatusInternalServerError, fmt.Errorf("panic: %v", p))
			}
		}()
		h.ServeHTTP(w, r)
	})
	return hlog.NewHandler(log)(hlog.AccessHandler(func(r *http.Request, status, size int, d time.Duration) {
		if count != nil {
			count(status)
		}
		ev := hlog.FromRequest(r).Debug()
		if status >= 500 {
			ev = hlog.FromRequest(r).Warn()
		}
		ev.Str("request_id", RequestID(r.Context())).Str("method", r.Method).Str("path", r.URL.Path).
			Int("status", status).Int("size", size).Dur("took", d).Msg("http")
	})(inner))
}

// ClientIP is the caller's address: the connection's, or with trustProxy the first
// address in X-Forwarded-For.
func ClientIP(r *http.Request, trustProxy bool) string {
	if trustProxy {
		if xff := r.Header.Get("X-Forwarded-For"); xff != "" {
			ip, _, _ := strings.Cut(xff, ",")
			return strings.TrimSpace(ip)
		}
	}
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}
