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
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
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
