// Package web is the website widget's channel: a WebSocket endpoint that visitors' chat
// windows talk to, the pages that embed it (loader script, chat frame, demo page), and
// the visitor tokens and identity checks behind them.
//
// The widget reads its conversation straight from the store: every connection keeps a
// cursor (conversation, last sequence number sent) and catches up from the store
// whenever the bus shows it a gap, so a reconnecting client receives everything after
// the sequence number it last saw exactly once and in order, and no outbox rows are
// needed for this channel.
package web

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/gorilla/websocket"
	"github.com/rs/zerolog"

	"github.com/conciergehq/concierge"
	"github.com/conciergehq/concierge/channels"
	"github.com/conciergehq/concierge/internal/httpx"
	"github.com/conciergehq/concierge/internal/metrics"
	"github.com/conciergehq/concierge/internal/store"
)

// ChannelName is the adapter's name, stored on the widget's contacts and conversations.
const ChannelName = "web"

// Store is what the channel reads: contacts and conversations of visitors, and the
// messages a connection catches up with.
type Store interface {
	ContactByExternal(ctx context.Context, channel, externalID string) (concierge.Contact, error)
	LatestConversation(ctx context.Context, contactID int64) (concierge.Conversation, error)
	Conversation(ctx context.Context, id int64) (concierge.Conversation, error)
	Messages(ctx context.Context, convID, afterSeq int64, limit int, withInternal bool) ([]concierge.Message, error)
	ChannelState(ctx context.Context, channel, key string) (string, error)
	SetChannelState(ctx context.Context, channel, key, value string) error
}

// Gateway takes visitors' messages and typing.
type Gateway interface {
	Receive(ctx context.Context, in concierge.Inbound) (store.Received, error)
	Typing(ctx context.Context, convID int64, t concierge.Typing)
}

// Bus carries conversation events to connections (internal/bus).
type Bus interface {
	Listen(topic string, fn func(concierge.Event)) (cancel func())
	Publish(topic string, ev concierge.Event)
}

// Options configure the channel (config.Widget and server.allowed_origins).
type Options struct {
	Title    string
	Accent   string
	Position string // right (default) or left
	Locale   string // en, zh, or "" for the browser's language

	IdentitySecret   string
	IdentityRequired bool

	MaxTextBytes   int // default 4096
	RatePerVisitor int // messages per minute (default 30)
	RatePerIP      int // messages per minute (default 120)
	// ConnectsPerIP is WebSocket handshakes per minute and address (default 60).
	ConnectsPerIP int
	// SendQueue is how many frames may wait for a slow connection before it is dropped.
	SendQueue    int
	PingInterval time.Duration
	// History is how many recent messages a fresh window shows (default 100).
	History int

	// AllowedOrigins are the sites that may embed the widget; empty means the server's
	// own origin (BaseURL, in any of its loopback spellings); "*" means any.
	AllowedOrigins []string
	BaseURL        string
	TrustProxy     bool
	// Demo serves the demo product page at /.
	Demo bool
}

func (o *Options) defaults() {
	if o.Title == "" {
		o.Title = "Support"
	}
	if o.Accent == "" {
		o.Accent = "#2563eb"
	}
	if o.Position != "left" {
		o.Position = "right"
	}
	if o.MaxTextBytes <= 0 {
		o.MaxTextBytes = 4096
	}
	if o.RatePerVisitor <= 0 {
		o.RatePerVisitor = 30
	}
	if o.RatePerIP <= 0 {
		o.RatePerIP = 120
	}
	if o.ConnectsPerIP <= 0 {
		o.ConnectsPerIP = 60
	}
	if o.SendQueue < 4 {
		o.SendQueue = 64
	}
	if o.PingInterval <= 0 {
		o.PingInterval = 30 * time.Second
	}
	if o.History <= 0 {
		o.History = 100
	}
}

// Channel is the widget's adapter and HTTP endpoints.
type Channel struct {
	store   Store
	gw      Gateway
	bus     Bus
	metrics *metrics.Metrics
	log     zerolog.Logger
	opts    Options

	tokenKey []byte
	origins  origins
	upgrader websocket.Upgrader

	perVisitor *httpx.Limiter
	perIP      *httpx.Limiter
	connects   *httpx.Limiter

	frames frameCache

	base     context.Context // ends when the channel shuts down
	stop     context.CancelFunc
	mu       sync.Mutex
	conns    map[*conn]struct{}
	shutdown bool

	// dropped, when set (tests), hears of every connection dropped for being slow.
	dropped chan struct{}
}

// New returns the channel. It loads (or creates, on first start) the key that signs
// visitor tokens from the store. Register it with the gateway and mount its routes.
func New(ctx context.Context, st Store, gw Gateway, b Bus, m *metrics.Metrics, log zerolog.Logger, opts Options) (*Channel, error) {
	opts.defaults()
	ch := &Channel{store: st, gw: gw, bus: b, metrics: m, opts: opts,
		log:        log.With().Str("component", "web").Logger(),
		origins:    newOrigins(opts.AllowedOrigins, opts.BaseURL),
		perVisitor: httpx.NewLimiter(opts.RatePerVisitor, max(1, opts.RatePerVisitor/3)),
		perIP:      httpx.NewLimiter(opts.RatePerIP, max(1, opts.RatePerIP/3)),
		connects:   httpx.NewLimiter(opts.ConnectsPerIP, max(1, opts.ConnectsPerIP/3)),
		conns:      map[*conn]struct{}{},
	}
	ch.base, ch.stop = context.WithCancel(context.Background())
	ch.upgrader = websocket.Upgrader{
		HandshakeTimeout: 10 * time.Second,
		// Small read buffers and a pooled write buffer held only while writing keep an
		// idle connection cheap (PROTOCOLS.md §5).
		ReadBufferSize:  1024,
		WriteBufferSize: 4096,
		WriteBufferPool: &sync.Pool{},
		CheckOrigin: func(r *http.Request) bool {
			origin := r.Header.Get("Origin")
			return origin == "" || ch.origins.allowed(origin, r)
		},
	}
	key, err := ch.loadTokenKey(ctx)
	if err != nil {
		return nil, err
	}
	ch.tokenKey = key
	return ch, nil
}

// Name implements channels.Adapter.
func (ch *Channel) Name() string { return ChannelName }

// ReadsStore implements channels.StoreReader: widget clients read their conversation
// from the store, so the gateway writes no outbox rows for it.
func (ch *Channel) ReadsStore() bool { return true }

// Deliver implements channels.Adapter. Nothing is pushed from the outbox: a connection
// learns of stored messages from the bus and reads them from the store, and a client
// that is away reads them when it comes back.
func (ch *Channel) Deliver(ctx context.Context, d channels.Delivery) (string, error) { return "", nil }

// Run pings connections so dead ones are noticed and proxies keep live ones open, and
// closes every connection when ctx ends (hijacked connections are not closed by the
// HTTP server's shutdown).
func (ch *Channel) Run(ctx context.Context) error {
	t := time.NewTicker(ch.opts.PingInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			ch.closeAll()
			return nil
		case <-t.C:
			for _, c := range ch.snapshot() {
				c.push(item{kind: itemPing})
			}
		}
	}
}

func (ch *Channel) snapshot() []*conn {
	ch.mu.Lock()
	defer ch.mu.Unlock()
	out := make([]*conn, 0, len(ch.conns))
	for c := range ch.conns {
		out = append(out, c)
	}
	return out
}

func (ch *Channel) closeAll() {
	ch.mu.Lock()
	ch.shutdown = true
	ch.mu.Unlock()
	ch.stop()
	// In parallel: a close frame to a stalled client waits up to a second.
	var wg sync.WaitGroup
	for _, c := range ch.snapshot() {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c.goAway(websocket.CloseGoingAway, "server shutting down")
		}()
	}
	wg.Wait()
}

func (ch *Channel) add(c *conn) bool {
	ch.mu.Lock()
	defer ch.mu.Unlock()
	if ch.shutdown {
		return false
	}
	ch.conns[c] = struct{}{}
	ch.metrics.Conn("widget", 1)
	return true
}

func (ch *Channel) remove(c *conn) {
	ch.mu.Lock()
	defer ch.mu.Unlock()
	if _, ok := ch.conns[c]; ok {
		delete(ch.conns, c)
		ch.metrics.Conn("widget", -1)
	}
}

// Connections counts open widget connections.
func (ch *Channel) Connections() int {
	ch.mu.Lock()
	defer ch.mu.Unlock()
	return len(ch.conns)
}

// --- visitor tokens ---------------------------------------------------------------

// Visitor tokens are "cv1." + base64url(16 random bytes ‖ first 16 bytes of
// HMAC-SHA256(key, random)): opaque to the client, 128 random bits, and checkable
// without a lookup, so a client cannot pick its own token. Only a hash of the token is
// stored (as the contact's external id), so a database leak does not hand out sessions.
const tokenPrefix = "cv1."

func (ch *Channel) loadTokenKey(ctx context.Context) ([]byte, error) {
	v, err := ch.store.ChannelState(ctx, ChannelName, "token_key")
	if err == nil {
		if key, derr := hex.DecodeString(v); derr == nil && len(key) >= 32 {
			return key, nil
		}
		ch.log.Warn().Msg("stored visitor-token key is damaged; issuing a new one (visitors start over)")
	} else if !errors.Is(err, concierge.ErrNotFound) {
		return nil, fmt.Errorf("web: load token key: %w", err)
	}
	key := make([]byte, 32)
	if _, err := rand.Read(key); err != nil {
		return nil, fmt.Errorf("web: create token key: %w", err)
	}
	if err := ch.store.SetChannelState(ctx, ChannelName, "token_key", hex.EncodeToString(key)); err != nil {
		return nil, fmt.Errorf("web: save token key: %w", err)
	}
	return key, nil
}

func (ch *Channel) tokenMAC(random []byte) []byte {
	m := hmac.New(sha256.New, ch.tokenKey)
	m.Write(random)
	return m.Sum(nil)[:16]
}

// NewToken issues a visitor token.
func (ch *Channel) NewToken() string {
	var b [32]byte
	_, _ = rand.Read(b[:16]) // crypto/rand.Read never fails on supported platforms
	copy(b[16:], ch.tokenMAC(b[:16]))
	return tokenPrefix + base64.RawURLEncoding.EncodeToString(b[:])
}

func (ch *Channel) validToken(tok string) bool {
	raw, ok := strings.CutPrefix(tok, tokenPrefix)
	if !ok || len(raw) != 43 {
		return false
	}
	b, err := base64.RawURLEncoding.DecodeString(raw)
	if err != nil || len(b) != 32 {
		return false
	}
	return hmac.Equal(ch.tokenMAC(b[:16]), b[16:])
}

// VisitorKey is the contact external id for a token: hex(SHA-256(token)).
func VisitorKey(token string) string {
	sum := sha256.Sum256([]byte(token))
	return hex.EncodeToString(sum[:])
}

// Client message ids are stored as the message's channel id, prefixed by (part of) the
// visitor key so that ids only need to be unique per visitor.
const keyPrefixLen = 32

func scopedID(key, clientID string) string { return key[:keyPrefixLen] + ":" + clientID }

func cutClientID(ext string) (prefix, id string, ok bool) { return strings.Cut(ext, ":") }

func validClientID(id string) bool {
	if len(id) == 0 || len(id) > 64 {
		return false
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}

// --- identity verification ----------------------------------------------------------

// UserHash is what the host site's server computes for a signed-in user:
// hex(HMAC-SHA256(secret, id)).
func UserHash(secret, id string) string {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write([]byte(id))
	return hex.EncodeToString(m.Sum(nil))
}

const (
	maxClaimField = 256
	maxClaimAttrs = 20
)

// identify checks a setUser claim. A verified claim becomes a verified profile with the
// host's attributes (tier, plan…) and the user id; an unverified one contributes only a
// name and an email that fill gaps, never attributes such as tier that steer routing.
// code is an error code to report (the claim is then ignored).
func (ch *Channel) identify(u *userClaim) (p concierge.Profile, verified bool, code string) {
	if u == nil || u.ID == "" {
		if ch.opts.IdentityRequired {
			return p, false, CodeIdentityRequired
		}
		if u != nil {
			p.Name, p.Email = clip(u.Name), clip(u.Email)
		}
		return p, false, ""
	}
	if len(u.ID) > maxClaimField {
		return p, false, CodeIdentityInvalid
	}
	if ch.opts.IdentitySecret == "" || u.UserHash == "" {
		if ch.opts.IdentityRequired {
			return p, false, CodeIdentityRequired
		}
		p.Name, p.Email = clip(u.Name), clip(u.Email)
		return p, false, ""
	}
	want := UserHash(ch.opts.IdentitySecret, u.ID)
	if !hmac.Equal([]byte(want), []byte(strings.ToLower(u.UserHash))) {
		return p, false, CodeIdentityInvalid
	}
	p = concierge.Profile{Name: clip(u.Name), Email: clip(u.Email), Verified: true,
		Attributes: map[string]string{"user_id": u.ID}}
	n := 0
	for k, v := range u.Attributes {
		if n >= maxClaimAttrs || k == "" || len(k) > 64 || k == "user_id" {
			continue
		}
		p.Attributes[k] = clip(v)
		n++
	}
	return p, true, ""
}

func clip(s string) string {
	if len(s) <= maxClaimField {
		return s
	}
	return strings.ToValidUTF8(s[:maxClaimField], "")
}
