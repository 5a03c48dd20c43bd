// Package wechat connects WeChat Official Accounts (公众号) to the gateway: it answers
// WeChat's callbacks (URL verification, messages and events in plaintext, compatible and
// safe mode), hands customers' messages to the gateway, and delivers replies — as the
// passive reply of the callback when the answer is ready within a few seconds, through the
// customer-service API otherwise.
//
// The protocol is small enough to implement with the standard library, which keeps
// signature comparisons constant-time, timestamps fresh and deliveries deduplicated under
// our control (the SDKs do none of the three).
package wechat

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/rs/zerolog"

	"github.com/conciergehq/concierge"
	"github.com/conciergehq/concierge/channels"
	"github.com/conciergehq/concierge/internal/blob"
	"github.com/conciergehq/concierge/internal/store"
)

// Gateway is where customers' messages go, and how agents are told about the account's
// own events (an unfollow).
type Gateway interface {
	Receive(ctx context.Context, in concierge.Inbound) (store.Received, error)
	Send(ctx context.Context, convID int64, out concierge.Outgoing) (concierge.Message, error)
}

// Store is what the account reads and records besides messages.
type Store interface {
	ContactByExternal(ctx context.Context, channel, externalID string) (concierge.Contact, error)
	LatestConversation(ctx context.Context, contactID int64) (concierge.Conversation, error)
	RecentMessages(ctx context.Context, convID int64, n int) ([]concierge.Message, error)
	SetUnreachable(ctx context.Context, contactID int64, reason string) error
	FirstSeen(ctx context.Context, channel, key string) (bool, error)
	ChannelState(ctx context.Context, channel, key string) (string, error)
	SetChannelState(ctx context.Context, channel, key, value string) error
}

// Files keeps the pictures and voice notes customers send (internal/blob).
type Files interface {
	Put(ctx context.Context, r io.Reader, name, mimeType string) (blob.Meta, error)
	Open(key string) (*os.File, blob.Meta, error)
}

// Click is what a custom-menu key does: an explicit action, or a question asked for the
// customer (Text).
type Click struct {
	Action concierge.Action
	Text   string
}

// Config is one Official Account.
type Config struct {
	// Name makes the channel "wechat:<name>" and the callback path /wechat/<name>.
	Name string
	// OriginalID is the account's gh_ id; callbacks addressed to another are refused.
	OriginalID     string
	AppID          string
	AppSecret      string
	Token          string
	EncodingAESKey string
	// Mode is plaintext, compatible or safe. Safe refuses unencrypted callbacks.
	Mode string
	// APIURL is the API base, https://api.weixin.qq.com unless a proxy (or a test) serves it.
	APIURL string
	// ClassicToken uses cgi-bin/token instead of cgi-bin/stable_token.
	ClassicToken bool
	// ReplyBudget is how long after a callback arrived its passive reply may be sent
	// (default 3s).
	ReplyBudget time.Duration
	// Menu maps CLICK event keys to what they mean; unmapped keys are ignored.
	Menu map[string]Click
	// Kf, when set, adds the WeCom customer service (微信客服) behind the same adapter.
	Kf *KfConfig
}

// Deps are the account's collaborators. Files, HTTP and Now are optional.
type Deps struct {
	Gateway Gateway
	Store   Store
	Files   Files
	HTTP    *http.Client
	Now     func() time.Time
}

const (
	// freshness is how far a callback's timestamp may be from our clock.
	freshness = 300 * time.Second
	// maxBody bounds a callback body; real ones are a few hundred bytes.
	maxBody = 64 << 10
	// typingLasts is how long WeChat shows a typing indicator; it cannot be re-sent sooner.
	typingLasts = 15 * time.Second
)

// Account is one Official Account: the gateway's adapter (channels.Adapter and
// channels.Typer) and the http.Handler of its callback URL.
type Account struct {
	cfg     Config
	channel string
	cipher  *Cipher // nil in plaintext mode without a key
	api     *apiClient
	gw      Gateway
	st      Store
	files   Files
	now     func() time.Time
	log     zerolog.Logger

	mu       sync.Mutex
	inflight map[string]*pending   // dedupe key → the callback handling it
	waiting  map[string][]*pending // OpenID → callbacks waiting for a passive reply, oldest first
	nonces   map[string]nonceUse   // timestamp|nonce → the body it signed
	typing   map[string]time.Time  // OpenID → when the indicator was last shown
	progress map[int64]int         // message id → parts already sent by an earlier attempt

	kf *kf // WeCom customer service, nil unless configured
}

// New returns the account described by cfg.
func New(cfg Config, deps Deps, log zerolog.Logger) (*Account, error) {
	if cfg.Name == "" || cfg.Token == "" || cfg.OriginalID == "" || cfg.AppID == "" {
		return nil, errors.New("wechat: name, token, original_id and app_id are required")
	}
	if deps.Gateway == nil || deps.Store == nil {
		return nil, errors.New("wechat: a gateway and a store are required")
	}
	if cfg.ReplyBudget <= 0 {
		cfg.ReplyBudget = 3 * time.Second
	}
	if cfg.APIURL == "" {
		cfg.APIURL = "https://api.weixin.qq.com"
	}
	if cfg.Mode == "" {
		cfg.Mode = "safe"
	}
	if deps.HTTP == nil {
		deps.HTTP = &http.Client{Timeout: 15 * time.Second}
	}
	if deps.Now == nil {
		deps.Now = time.Now
	}
	a := &Account{cfg: cfg, channel: "wechat:" + cfg.Name, gw: deps.Gateway, st: deps.Store, files: deps.Files,
		now: deps.Now, log: log.With().Str("component", "wechat").Str("account", cfg.Name).Logger(),
		inflight: map[string]*pending{}, waiting: map[string][]*pending{}, nonces: map[string]nonceUse{},
		typing: map[string]time.Time{}, progress: map[int64]int{}}
	switch cfg.Mode {
	case "plaintext", "compatible", "safe":
	default:
		return nil, fmt.Errorf("wechat: mode %q: want plaintext, compatible or safe", cfg.Mode)
	}
	if cfg.EncodingAESKey != "" {
		c, err := NewCipher(cfg.EncodingAESKey, cfg.AppID)
		if err != nil {
			return nil, err
		}
		a.cipher = c
	} else if cfg.Mode != "plaintext" {
		return nil, fmt.Errorf("wechat: %s mode needs encoding_aes_key", cfg.Mode)
	}
	a.api = &apiClient{base: strings.TrimRight(cfg.APIURL, "/"), appID: cfg.AppID, secret: cfg.AppSecret,
		classic: cfg.ClassicToken, hc: deps.HTTP, now: deps.Now}
	if cfg.Kf != nil {
		k, err := newKf(a, *cfg.Kf, deps.HTTP)
		if err != nil {
			return nil, err
		}
		a.kf = k
	}
	return a, nil
}

// Name is the channel name, "wechat:<name>".
func (a *Account) Name() string { return a.channel }

// Path is where the callback handler is mounted.
func (a *Account) Path() string { return "/wechat/" + a.cfg.Name }

// ServeHTTP answers WeChat's callbacks: GET verifies the URL, POST delivers a message.
func (a *Account) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	switch r.Method {
	case http.MethodGet:
		a.verifyURL(w, r)
	case http.MethodPost:
		a.receive(w, r)
	default:
		w.Header().Set("Allow", "GET, POST")
		http.Error(w, "WeChat callbacks are GET (URL verification) or POST (messages)", http.StatusMethodNotAllowed)
	}
}

// refusal is a callback we do not accept, with the status and a reason safe to show.
type refusal struct {
	status int
	reason string
}

func (e *refusal) Error() string { return e.reason }

func refuse(status int, format string, args ...any) error {
	return &refusal{status: status, reason: fmt.Sprintf(format, args...)}
}

func (a *Account) fail(w http.ResponseWriter, r *http.Request, err error) {
	status, reason := http.StatusInternalServerError, "internal error"
	var rf *refusal
	if errors.As(err, &rf) {
		status, reason = rf.status, rf.reason
		a.log.Warn().Int("status", status).Str("reason", reason).Str("remote", r.RemoteAddr).Msg("callback refused")
	} else {
		a.log.Error().Err(err).Msg("callback failed; WeChat will retry it")
	}
	http.Error(w, reason, status)
}

// authenticate checks the query's signature over token, timestamp and nonce, and that the
// timestamp is recent: a captured request cannot be replayed later.
func (a *Account) authenticate(q url.Values) error {
	ts, nonce := q.Get("timestamp"), q.Get("nonce")
	if !validSignature(q.Get("signature"), a.cfg.Token, ts, nonce) {
		return refuse(http.StatusUnauthorized, "wrong signature")
	}
	sec, err := strconv.ParseInt(ts, 10, 64)
	if err != nil {
		return refuse(http.StatusUnauthorized, "timestamp is not a number")
	}
	if d := a.now().Sub(time.Unix(sec, 0)); d > freshness || d < -freshness {
		return refuse(http.StatusUnauthorized, "stale timestamp (%s away from our clock)", d.Round(time.Second))
	}
	return nil
}

func (a *Account) verifyURL(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	if err := a.authenticate(q); err != nil {
		a.fail(w, r, err)
		return
	}
	// An Official Account's echostr is plaintext in every mode.
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	io.WriteString(w, q.Get("echostr"))
	a.log.Info().Msg("callback URL verified by WeChat")
}

type nonceUse struct {
	body [32]byte
	at   time.Time
}

// firstUse reports whether a timestamp and nonce sign this body for the first time, or
// again the same body (WeChat retrying). The same pair over another body is a replay
// with a forged payload: in plaintext mode the signature does not cover the body.
func (a *Account) firstUse(q url.Values, body []byte) bool {
	key := q.Get("timestamp") + "|" + q.Get("nonce")
	sum := sha256.Sum256(body)
	now := a.now()
	a.mu.Lock()
	defer a.mu.Unlock()
	if u, ok := a.nonces[key]; ok {
		return u.body == sum
	}
	if len(a.nonces) >= 4096 {
		for k, u := range a.nonces {
			if now.Sub(u.at) > 2*freshness {
				delete(a.nonces, k)
			}
		}
	}
	a.nonces[key] = nonceUse{body: sum, at: now}
	return true
}

func (a *Account) receive(w http.ResponseWriter, r *http.Request) {
	deadline := time.Now().Add(a.cfg.ReplyBudget)
	if r.ContentLength > maxBody {
		a.fail(w, r, refuse(http.StatusRequestEntityTooLarge, "body larger than %d bytes", maxBody))
		return
	}
	q := r.URL.Query()
	if err := a.authenticate(q); err != nil {
		a.fail(w, r, err)
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBody))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			a.fail(w, r, refuse(http.StatusRequestEntityTooLarge, "body larger than %d bytes", maxBody))
		} else {
			a.fail(w, r, refuse(http.StatusBadRequest, "cannot read body"))
		}
		return
	}
	if !a.firstUse(q, body) {
		a.fail(w, r, refuse(http.StatusUnauthorized, "replayed signature over another body"))
		return
	}
	m, encrypted, err := a.open(q, body)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	a.handle(w, r, m, encrypted, deadline)
}

// open authenticates and decodes a callback body: decrypted (after checking msg_signature)
// when WeChat encrypted it, and checked to be addressed to this account.
func (a *Account) open(q url.Values, body []byte) (*callback, bool, error) {
	encrypted := q.Get("encrypt_type") == "aes"
	plain := body
	if encrypted {
		if a.cipher == nil {
			return nil, true, refuse(http.StatusBadRequest, "encrypted callback, but no encoding_aes_key is configured")
		}
		var env envelope
		if err := xml.Unmarshal(body, &env); err != nil {
			return nil, true, refuse(http.StatusBadRequest, "malformed XML: %v", err)
		}
		if env.Encrypt == "" {
			return nil, true, refuse(http.StatusBadRequest, "encrypted callback without Encrypt")
		}
		if !validSignature(q.Get("msg_signature"), a.cfg.Token, q.Get("timestamp"), q.Get("nonce"), env.Encrypt) {
			return nil, true, refuse(http.StatusUnauthorized, "wrong msg_signature")
		}
		var err error
		if plain, err = a.cipher.Decrypt(env.Encrypt); err != nil {
			if errors.Is(err, errWrongAppID) {
				return nil, true, refuse(http.StatusForbidden, "encrypted for another app id")
			}
			return nil, true, refuse(http.StatusBadRequest, "%v", err)
		}
	} else if a.cfg.Mode == "safe" {
		return nil, false, refuse(http.StatusUnauthorized, "unencrypted callback refused: the account is in safe mode")
	}
	m, err := parseCallback(plain)
	if err != nil {
		return nil, encrypted, refuse(http.StatusBadRequest, "malformed XML: %v", err)
	}
	if m.ToUserName != a.cfg.OriginalID {
		return nil, encrypted, refuse(http.StatusForbidden, "addressed to %q, not this account", truncate(m.ToUserName, 64))
	}
	if m.FromUserName == "" || m.MsgType == "" {
		return nil, encrypted, refuse(http.StatusBadRequest, "callback without FromUserName or MsgType")
	}
	return m, encrypted, nil
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}

// ack tells WeChat the callback was handled and no passive reply follows.
func ack(w http.ResponseWriter) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	io.WriteString(w, "success")
}

func (a *Account) handle(w http.ResponseWriter, r *http.Request, m *callback, encrypted bool, deadline time.Time) {
	ctx := r.Context()
	if m.MsgType == "event" && m.Event == "unsubscribe" {
		if err := a.unsubscribed(ctx, m); err != nil {
			a.fail(w, r, err)
			return
		}
		ack(w)
		return
	}
	p := a.begin(m.dedupeKey(), m.FromUserName)
	if p == nil {
		// WeChat retries after 5s without an answer; the first delivery is still being
		// handled. Its reply, if any, goes through the API.
		a.log.Debug().Str("key", m.dedupeKey()).Msg("retry of a callback still in hand")
		ack(w)
		return
	}
	defer a.end(p)
	in, ok := a.inbound(ctx, m, deadline)
	if !ok {
		ack(w)
		return
	}
	a.enqueue(p)
	rec, err := a.gw.Receive(ctx, in)
	if err != nil {
		if !a.drop(p) {
			// Deliver handed over a reply for an earlier message just now; this callback
			// fails (WeChat retries it), so that reply must go through the API.
			(<-p.reply).done <- errors.New("wechat: callback failed before its reply was written")
		}
		if errors.Is(err, concierge.ErrInvalid) {
			err = refuse(http.StatusBadRequest, "%v", err)
		}
		a.fail(w, r, err)
		return
	}
	if rec.Duplicate || rec.Conversation.Status.WithHuman() {
		// Agents answer in their own time: acknowledge at once, their replies go through the API.
		a.finish(w, p, m, encrypted)
		return
	}
	a.await(w, r, p, m, encrypted, deadline)
}

// inbound turns a callback into what the gateway stores. It reports false for callbacks
// that are not a customer's message (ignored events, unmapped menu keys).
func (a *Account) inbound(ctx context.Context, m *callback, deadline time.Time) (concierge.Inbound, bool) {
	in := concierge.Inbound{Channel: a.channel, ContactID: m.FromUserName, MessageID: m.dedupeKey(),
		ReceivedAt: a.created(m.CreateTime)}
	switch m.MsgType {
	case "text":
		in.Text = strings.TrimSpace(m.Content)
		if in.Text == "" {
			return in, false
		}
		in.Payload = a.choice(ctx, m.FromUserName, in.Text)
	case "image":
		in.Attachments = []concierge.Attachment{a.media(ctx, a.api, deadline, "image", m.MediaID, m.PicURL, "")}
	case "voice":
		in.Text = strings.TrimSpace(m.Recognition)
		att := a.media(ctx, a.api, deadline, "voice", m.MediaID, "", m.Format)
		att.Text = in.Text
		in.Attachments = []concierge.Attachment{att}
	case "video", "shortvideo":
		in.Attachments = []concierge.Attachment{a.media(ctx, a.api, deadline, "video", m.MediaID, "", "")}
	case "location":
		in.Attachments = []concierge.Attachment{{Kind: "location", URL: "geo:" + m.LocationX + "," + m.LocationY,
			Name: m.Label, Text: m.Label}}
	case "link":
		att := concierge.Attachment{Kind: "link", Name: m.Title, Text: m.Description}
		if strings.HasPrefix(m.URL, "https://") || strings.HasPrefix(m.URL, "http://") {
			att.URL = m.URL
		}
		in.Attachments = []concierge.Attachment{att}
	case "event":
		switch m.Event {
		case "subscribe":
			in.Action = concierge.ActionStart
			if scene, ok := strings.CutPrefix(m.EventKey, "qrscene_"); ok && scene != "" {
				in.Meta = map[string]string{"qr_scene": scene}
			}
		case "SCAN": // a follower scanned a parameterised QR code
			in.Action = concierge.ActionStart
			if m.EventKey != "" {
				in.Meta = map[string]string{"qr_scene": m.EventKey}
			}
		case "CLICK":
			click, ok := a.cfg.Menu[m.EventKey]
			if !ok {
				a.log.Warn().Str("key", m.EventKey).Msg("menu key not mapped in the configuration (wechat.menu); click ignored")
				return in, false
			}
			in.Action, in.Text = click.Action, click.Text
		default:
			return in, false // VIEW, LOCATION reports, job notifications…
		}
	default:
		a.log.Debug().Str("type", m.MsgType).Msg("message type not handled; acknowledged")
		return in, false
	}
	return in, true
}

// created is the time WeChat says the message was written, unless our clocks disagree.
func (a *Account) created(sec int64) time.Time {
	t, now := time.Unix(sec, 0), a.now()
	if d := now.Sub(t); d < -freshness || d > 24*time.Hour {
		return now
	}
	return t
}

// media keeps a customer's picture, voice note or video in our files, so agents can see
// it after WeChat's copy expires (3 days). Within the reply budget only: when the download
// fails or is slow, the attachment keeps WeChat's own link or media id.
func (a *Account) media(ctx context.Context, api *apiClient, deadline time.Time, kind, mediaID, link, format string) concierge.Attachment {
	att := concierge.Attachment{Kind: kind, Ref: mediaID, URL: link}
	if a.files == nil || mediaID == "" {
		return att
	}
	ctx, cancel := context.WithDeadline(ctx, deadline)
	defer cancel()
	md, err := api.getMedia(ctx, mediaID)
	if err != nil {
		a.log.Warn().Err(err).Str("kind", kind).Msg("cannot download media; keeping WeChat's reference")
		return att
	}
	defer md.Body.Close()
	mimeType := md.MIME
	if mimeType == "" || mimeType == "application/octet-stream" {
		mimeType = mediaTypes[strings.ToLower(format)]
	}
	name := md.Name
	if name == "" {
		name = kind
		if format != "" {
			name += "." + strings.ToLower(format)
		}
	}
	meta, err := a.files.Put(ctx, md.Body, name, mimeType)
	if err != nil {
		a.log.Warn().Err(err).Str("kind", kind).Msg("cannot keep media; keeping WeChat's reference")
		return att
	}
	att.URL, att.Name, att.MIME, att.Size = blob.URL(meta.Key), meta.Name, meta.MIME, meta.Size
	return att
}

var mediaTypes = map[string]string{"amr": "audio/amr", "speex": "audio/speex", "mp3": "audio/mpeg"}

// choice maps a bare number to the payload of the option it picks, when the newest message
// the customer saw offered choices: WeChat has no buttons, so choices are sent as numbered
// text (see render).
func (a *Account) choice(ctx context.Context, openID, text string) string {
	if _, ok := parseChoice(text); !ok {
		return ""
	}
	c, err := a.st.ContactByExternal(ctx, a.channel, openID)
	if err != nil {
		return ""
	}
	conv, err := a.st.LatestConversation(ctx, c.ID)
	if err != nil || !(conv.Status.Open() || conv.CSATPending) {
		return ""
	}
	msgs, err := a.st.RecentMessages(ctx, conv.ID, 10)
	if err != nil {
		return ""
	}
	for i := len(msgs) - 1; i >= 0; i-- {
		m := msgs[i]
		switch {
		case m.Internal:
			continue
		case m.Sender == concierge.SenderUser || len(m.QuickReplies) == 0:
			return "" // the choices, if any, are no longer the latest thing asked
		}
		if q, ok := chosen(m.QuickReplies, text); ok {
			return q.Payload
		}
		return ""
	}
	return ""
}

// unsubscribed marks the contact unreachable (WeChat refuses every message to a former
// follower) and tells the agents in the open conversation, once.
func (a *Account) unsubscribed(ctx context.Context, m *callback) error {
	c, err := a.st.ContactByExternal(ctx, a.channel, m.FromUserName)
	if errors.Is(err, concierge.ErrNotFound) {
		return nil // never wrote to us: nothing to update
	}
	if err != nil {
		return err
	}
	if err := a.st.SetUnreachable(ctx, c.ID, "unfollowed the WeChat account"); err != nil {
		return err
	}
	first, err := a.st.FirstSeen(ctx, a.channel, m.dedupeKey())
	if err != nil || !first {
		return err
	}
	conv, err := a.st.LatestConversation(ctx, c.ID)
	if err != nil || !conv.Status.Open() {
		return nil
	}
	if _, err := a.gw.Send(ctx, conv.ID, concierge.Outgoing{Sender: concierge.SenderSystem, Internal: true,
		Text: "The customer unfollowed the WeChat account: messages cannot reach them until they follow again and write."}); err != nil {
		a.log.Warn().Err(err).Int64("conversation", conv.ID).Msg("cannot note the unfollow for agents")
	}
	return nil
}

// pending is a callback in hand: deduplicated against WeChat's retries and, while it
// waits, the place a passive reply for its customer can be handed to.
type pending struct {
	key    string
	openID string
	state  pendingState       // guarded by Account.mu
	reply  chan *passiveReply // capacity 1: whoever takes the callback sends one reply
	gone   chan struct{}      // closed when a retry showed that WeChat gave up on it
	closed bool               // gone is closed; guarded by Account.mu
}

type pendingState int

const (
	idle    pendingState = iota // in hand, not yet waiting for a reply
	waiting                     // in Account.waiting, may be taken by Deliver
	taken                       // Deliver handed it a reply
	dropped                     // answered "success"; no reply will be taken
)

type passiveReply struct {
	text string
	done chan error // the callback reports whether the reply was written
}

// begin registers a callback under its dedupe key. A second callback with the same key
// while the first is in hand is WeChat retrying (it waited 5s for the first and dropped
// it): the first must no longer hold a reply, which would be lost with its connection.
func (a *Account) begin(key, openID string) *pending {
	a.mu.Lock()
	defer a.mu.Unlock()
	if first, ok := a.inflight[key]; ok {
		a.dropLocked(first)
		if !first.closed {
			first.closed = true
			close(first.gone)
		}
		return nil
	}
	p := &pending{key: key, openID: openID, reply: make(chan *passiveReply, 1), gone: make(chan struct{})}
	a.inflight[key] = p
	return p
}

// enqueue makes p available to Deliver. Called before the message is stored, so a reply
// produced at once cannot miss it.
func (a *Account) enqueue(p *pending) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if p.state == idle {
		p.state = waiting
		a.waiting[p.openID] = append(a.waiting[p.openID], p)
	}
}

// drop withdraws p and reports whether that worked; false means Deliver took it first
// and a reply is on its way to p.reply.
func (a *Account) drop(p *pending) bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.dropLocked(p)
}

func (a *Account) dropLocked(p *pending) bool {
	switch p.state {
	case taken:
		return false
	case waiting:
		q := a.waiting[p.openID]
		for i, o := range q {
			if o == p {
				q = append(q[:i:i], q[i+1:]...)
				break
			}
		}
		if len(q) == 0 {
			delete(a.waiting, p.openID)
		} else {
			a.waiting[p.openID] = q
		}
	}
	p.state = dropped
	return true
}

func (a *Account) end(p *pending) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.dropLocked(p)
	if a.inflight[p.key] == p {
		delete(a.inflight, p.key)
	}
}

// take hands the oldest callback of a customer waiting for a reply to Deliver.
func (a *Account) take(openID string) *pending {
	a.mu.Lock()
	defer a.mu.Unlock()
	q := a.waiting[openID]
	if len(q) == 0 {
		return nil
	}
	p := q[0]
	if len(q) == 1 {
		delete(a.waiting, openID)
	} else {
		a.waiting[openID] = q[1:]
	}
	p.state = taken
	return p
}

// await holds the callback until Deliver hands it a reply or the budget is spent, then
// answers with the reply or "success".
func (a *Account) await(w http.ResponseWriter, r *http.Request, p *pending, m *callback, encrypted bool, deadline time.Time) {
	t := time.NewTimer(time.Until(deadline))
	defer t.Stop()
	var reply *passiveReply
	select {
	case reply = <-p.reply:
	case <-t.C:
	case <-p.gone:
	case <-r.Context().Done():
	}
	if reply == nil {
		a.finish(w, p, m, encrypted)
		return
	}
	reply.done <- a.writeReply(w, m, encrypted, reply.text)
}

// finish answers a callback that stops waiting: "success", or the reply Deliver handed
// it in the meantime.
func (a *Account) finish(w http.ResponseWriter, p *pending, m *callback, encrypted bool) {
	if a.drop(p) {
		ack(w)
		return
	}
	reply := <-p.reply // Deliver took p just now: its reply is already on the way
	reply.done <- a.writeReply(w, m, encrypted, reply.text)
}

// writeReply sends a passive text reply, encrypted when the callback was.
func (a *Account) writeReply(w http.ResponseWriter, m *callback, encrypted bool, text string) error {
	now := a.now()
	body := textReply(m.FromUserName, m.ToUserName, now.Unix(), text)
	if encrypted {
		var n [8]byte
		_, _ = rand.Read(n[:])
		body = encryptedReply(a.cipher, a.cfg.Token, body, strconv.FormatInt(now.Unix(), 10), hex.EncodeToString(n[:]))
	}
	rc := http.NewResponseController(w)
	_ = rc.SetWriteDeadline(time.Now().Add(2 * time.Second))
	w.Header().Set("Content-Type", "application/xml; charset=utf-8")
	if _, err := w.Write(body); err != nil {
		return err
	}
	return rc.Flush()
}

// offerPassive gives text to a callback of the customer waiting for a reply and reports
// whether it was written to WeChat.
func (a *Account) offerPassive(openID, text string) bool {
	p := a.take(openID)
	if p == nil {
		return false
	}
	reply := &passiveReply{text: text, done: make(chan error, 1)}
	p.reply <- reply
	t := time.NewTimer(10 * time.Second) // the callback writes at once; this only guards against a bug
	defer t.Stop()
	select {
	case err := <-reply.done:
		if err != nil {
			a.log.Debug().Err(err).Msg("passive reply not written; sending through the API")
		}
		return err == nil
	case <-t.C:
		return false
	}
}

// Deliver sends one stored message: its first text as the passive reply of a waiting
// callback when there is one, everything else through the customer-service API. A message
// split into several parts resumes after the parts an earlier attempt sent.
func (a *Account) Deliver(ctx context.Context, d channels.Delivery) (string, error) {
	if openKfID := d.Contact.Attributes[kfAttribute]; openKfID != "" {
		if a.kf == nil {
			return "", errors.New("wechat: contact came through WeCom customer service, which is no longer configured")
		}
		return a.kf.deliver(ctx, d, openKfID)
	}
	openID := d.Contact.ExternalID
	texts := render(d.Message, d.Conversation.Language)
	images := a.ownImages(d.Message)
	parts := len(texts) + len(images)
	how := "custom"
	for i := a.sentParts(d.Message.ID); i < parts; i++ {
		var err error
		switch {
		case i == 0 && len(texts) > 0 && a.offerPassive(openID, texts[0]):
			how = "passive"
		case i < len(texts):
			err = a.api.sendText(ctx, openID, texts[i])
		default:
			err = a.sendImage(ctx, openID, images[i-len(texts)])
		}
		if err != nil {
			return "", a.partFailed(d.Message.ID, i, err)
		}
	}
	a.partsDone(d.Message.ID)
	if parts == 0 {
		a.log.Warn().Int64("message", d.Message.ID).Msg("message has nothing WeChat can show; skipped")
		return "", nil
	}
	return how, nil
}

// sentParts is how many parts of a split message an earlier attempt delivered.
func (a *Account) sentParts(messageID int64) int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.progress[messageID]
}

// partFailed records that part i of a message failed (the parts before it went out) and
// returns the error as the gateway's outbox understands it.
func (a *Account) partFailed(messageID int64, i int, err error) error {
	err = classify(err)
	a.mu.Lock()
	defer a.mu.Unlock()
	if i > 0 && !errors.Is(err, concierge.ErrUnreachable) && len(a.progress) < 10000 {
		a.progress[messageID] = i
	} else {
		delete(a.progress, messageID) // given up for good: nothing will resume it
	}
	return err
}

func (a *Account) partsDone(messageID int64) {
	a.mu.Lock()
	delete(a.progress, messageID)
	a.mu.Unlock()
}

// ownImages are the pictures of a message kept on our server (an agent's screenshot):
// the customer cannot open our links, so they are uploaded to WeChat and sent as images.
func (a *Account) ownImages(m concierge.Message) []string {
	if a.files == nil {
		return nil
	}
	var keys []string
	for _, att := range m.Attachments {
		key, ok := strings.CutPrefix(att.URL, blob.URL(""))
		if ok && att.Kind == "image" && key != "" {
			keys = append(keys, key)
		}
	}
	return keys
}

func (a *Account) sendImage(ctx context.Context, openID, key string) error {
	data, meta, err := a.readImage(key)
	if err != nil {
		return err
	}
	mediaID, err := a.api.uploadImage(ctx, meta.Name, meta.MIME, data)
	if err != nil {
		return err
	}
	return a.api.sendImage(ctx, openID, mediaID)
}

// readImage reads a picture kept on our server for uploading it to WeChat.
func (a *Account) readImage(key string) ([]byte, blob.Meta, error) {
	f, meta, err := a.files.Open(key)
	if err != nil {
		return nil, meta, fmt.Errorf("wechat: image %s: %w", key, err)
	}
	defer f.Close()
	const maxImage = 10 << 20 // WeChat's limit for temporary images
	if meta.Size > maxImage {
		return nil, meta, fmt.Errorf("wechat: image %s is %d bytes, over WeChat's %d: %w", key, meta.Size, maxImage, concierge.ErrInvalid)
	}
	data, err := io.ReadAll(io.LimitReader(f, maxImage))
	if err != nil {
		return nil, meta, fmt.Errorf("wechat: image %s: %w", key, err)
	}
	return data, meta, nil
}

// Typing shows "typing…" in the customer's chat while the bot works. WeChat shows it for
// about 15s and refuses to show it again sooner.
func (a *Account) Typing(ctx context.Context, conv concierge.Conversation, contact concierge.Contact) error {
	if contact.Attributes[kfAttribute] != "" {
		return nil // WeCom customer service has no typing indicator
	}
	now := a.now()
	a.mu.Lock()
	if last, ok := a.typing[contact.ExternalID]; ok && now.Sub(last) < typingLasts {
		a.mu.Unlock()
		return nil
	}
	if len(a.typing) >= 4096 {
		for k, t := range a.typing {
			if now.Sub(t) >= typingLasts {
				delete(a.typing, k)
			}
		}
	}
	a.typing[contact.ExternalID] = now
	a.mu.Unlock()
	return a.api.typing(ctx, contact.ExternalID)
}
