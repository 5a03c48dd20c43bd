// Package telegram connects Telegram bots to the gateway: customers write to the bot, the
// triage bot and agents answer through it.
//
// Updates arrive by long polling (our own getUpdates loop) or by webhook. Either way each
// update is first written to a durable inbox (internal/store: telegram_updates) and only
// then confirmed to Telegram, so a crash loses nothing and a redelivery is dropped by its
// update_id. A worker turns stored updates into gateway inbound messages, in order per
// chat: it downloads photos, documents and voice notes into our own file store, answers
// inline-keyboard presses and records edits. Outbound messages are sent in HTML parse
// mode, split at Telegram's length limit and paced to its rate limits.
package telegram

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	tgbotapi "github.com/go-telegram-bot-api/telegram-bot-api/v5"
	"github.com/rs/zerolog"

	"github.com/conciergehq/concierge"
	"github.com/conciergehq/concierge/internal/blob"
	"github.com/conciergehq/concierge/internal/store"
)

// ErrTokenRefused means Telegram does not know the bot's token.
var ErrTokenRefused = errors.New("the token was refused by Telegram")

// Modes of receiving updates.
const (
	ModePolling = "polling"
	ModeWebhook = "webhook"
)

// allowedUpdates are the update kinds we ask Telegram for. Naming them also resets any
// narrower or wider list a previous deployment registered.
var allowedUpdates = []string{"message", "edited_message", "callback_query", "my_chat_member"}

// Config is one bot.
type Config struct {
	// Name makes the channel name "telegram:<Name>".
	Name  string
	Token string
	// Mode is ModePolling (default) or ModeWebhook.
	Mode string
	// WebhookURL and WebhookSecret register the webhook (webhook mode).
	WebhookURL    string
	WebhookSecret string
	// APIURL is the Bot API base (default https://api.telegram.org).
	APIURL string
	// PollTimeout is getUpdates' long-poll timeout (default 50s).
	PollTimeout time.Duration
	// MaxFileSize: larger attachments are recorded without being downloaded (default 20 MB,
	// the Bot API's own download limit).
	MaxFileSize int64
}

// Receiver stores inbound messages (channels.Gateway).
type Receiver interface {
	Receive(ctx context.Context, in concierge.Inbound) (store.Received, error)
}

// Store is what the adapter keeps in the database.
type Store interface {
	TelegramEnqueue(ctx context.Context, channel string, ups []store.TelegramUpdate, offset int64) (int, error)
	TelegramPending(ctx context.Context, channel string, limit int) ([]store.TelegramUpdate, error)
	TelegramDone(ctx context.Context, channel string, updateID int64, cause string) error
	TelegramRetry(ctx context.Context, channel string, updateID int64, cause string, next time.Time) error
	TelegramPrune(ctx context.Context, channel string, before time.Time) (int64, error)
	ChannelState(ctx context.Context, channel, key string) (string, error)
	SetChannelState(ctx context.Context, channel, key, value string) error
	ContactByExternal(ctx context.Context, channel, externalID string) (concierge.Contact, error)
	SetUnreachable(ctx context.Context, contactID int64, reason string) error
}

// Blobs keeps the files customers send (internal/blob).
type Blobs interface {
	Put(ctx context.Context, r io.Reader, name, mimeType string) (blob.Meta, error)
	Open(key string) (*os.File, blob.Meta, error)
}

// Adapter is one Telegram bot: a channels.Adapter and Typer, a webhook handler and a
// service (Run) that receives and processes updates.
type Adapter struct {
	name     string
	cfg      Config
	token    string
	fileBase string // API base + "/file/bot<token>/"; the library's FileEndpoint is a constant
	bot      *tgbotapi.BotAPI
	http     *http.Client // API calls: timeout above the long-poll timeout
	files    *http.Client // downloads
	gw       Receiver
	store    Store
	blobs    Blobs
	log      zerolog.Logger
	now      func() time.Time
	pacer    *pacer

	selfMu   sync.RWMutex
	username string // the bot's @username (commands may carry it), "" until getMe answered

	wake chan struct{}

	mu       sync.Mutex
	typing   map[int64]chan struct{} // chats with a running typing refresher
	progress map[int64][]string      // message id → Telegram ids of parts already sent
	tokens   map[string]bool         // callback tokens known to be stored
}

// New checks the token with getMe and returns the bot's adapter. A token Telegram
// refuses is an error; Telegram being unreachable is not (getMe is retried by Run).
func New(ctx context.Context, cfg Config, gw Receiver, st Store, blobs Blobs, log zerolog.Logger) (*Adapter, error) {
	if cfg.Mode == "" {
		cfg.Mode = ModePolling
	}
	if cfg.Mode != ModePolling && cfg.Mode != ModeWebhook {
		return nil, fmt.Errorf("telegram %s: mode %q: want polling or webhook", cfg.Name, cfg.Mode)
	}
	if cfg.Mode == ModeWebhook && (cfg.WebhookURL == "" || cfg.WebhookSecret == "") {
		return nil, fmt.Errorf("telegram %s: webhook mode needs a webhook URL and secret", cfg.Name)
	}
	if cfg.Token == "" {
		return nil, fmt.Errorf("telegram %s: no token", cfg.Name)
	}
	if cfg.APIURL == "" {
		cfg.APIURL = "https://api.telegram.org"
	}
	if cfg.PollTimeout <= 0 {
		cfg.PollTimeout = 50 * time.Second
	}
	if cfg.MaxFileSize <= 0 {
		cfg.MaxFileSize = 20 << 20
	}
	base := strings.TrimRight(cfg.APIURL, "/")
	a := &Adapter{
		name: "telegram:" + cfg.Name, cfg: cfg, token: cfg.Token,
		fileBase: base + "/file/bot" + cfg.Token + "/",
		// The client gives up 10s after a long poll should have answered.
		http:  &http.Client{Timeout: cfg.PollTimeout + 10*time.Second},
		files: &http.Client{Timeout: 2 * time.Minute},
		gw:    gw, store: st, blobs: blobs, now: time.Now,
		log:  log.With().Str("component", "telegram").Str("channel", "telegram:"+cfg.Name).Logger(),
		wake: make(chan struct{}, 1), typing: map[int64]chan struct{}{}, progress: map[int64][]string{},
		tokens: map[string]bool{},
	}
	a.pacer = newPacer(func() time.Time { return a.now() })
	endpoint := strings.ReplaceAll(base, "%", "%%") + "/bot%s/%s"
	cctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	bot, err := tgbotapi.NewBotAPIWithClient(cfg.Token, endpoint, ctxClient{ctx: cctx, c: a.http})
	switch {
	case err == nil:
		a.username = bot.Self.UserName
	case apiCode(err) == http.StatusUnauthorized || apiCode(err) == http.StatusNotFound:
		return nil, fmt.Errorf("telegram %s: %w (%s)", cfg.Name, ErrTokenRefused, a.scrub(err))
	default:
		a.log.Warn().Err(a.scrub(err)).Msg("cannot reach the Bot API; starting anyway and retrying")
		bot = &tgbotapi.BotAPI{Token: cfg.Token, Buffer: 100}
		bot.SetAPIEndpoint(endpoint)
	}
	bot.Client = a.http
	a.bot = bot
	return a, nil
}

// Name is the channel name, "telegram:<name>".
func (a *Adapter) Name() string { return a.name }

// Mode is how the bot receives updates.
func (a *Adapter) Mode() string { return a.cfg.Mode }

// WebhookPath is where the webhook handler expects Telegram's posts.
func (a *Adapter) WebhookPath() string { return "/telegram/" + a.cfg.Name + "/webhook" }

// Username is the bot's @username ("" until Telegram told us).
func (a *Adapter) Username() string {
	a.selfMu.RLock()
	defer a.selfMu.RUnlock()
	return a.username
}

// Run receives updates (polling, or registering the webhook) and processes stored ones
// until ctx ends.
func (a *Adapter) Run(ctx context.Context) error {
	var wg sync.WaitGroup
	run := func(f func(context.Context)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			f(ctx)
		}()
	}
	run(a.work)
	run(a.prune)
	run(func(ctx context.Context) {
		if !a.identify(ctx) {
			return
		}
		if a.cfg.Mode == ModeWebhook {
			a.registerWebhook(ctx)
		} else {
			a.poll(ctx)
		}
	})
	wg.Wait()
	return nil
}

// identify asks getMe until it answers (if New could not) so commands addressed to
// "@ourbot" are recognised.
func (a *Adapter) identify(ctx context.Context) bool {
	for attempt := 0; a.Username() == ""; attempt++ {
		resp, err := a.makeRequest(ctx, "getMe", nil)
		if err == nil {
			var u tgbotapi.User
			if err = jsonUnmarshal(resp.Result, &u); err == nil {
				a.selfMu.Lock()
				a.username = u.UserName
				a.selfMu.Unlock()
				a.log.Info().Str("bot", u.UserName).Msg("connected to the Bot API")
				return true
			}
		}
		if ctx.Err() != nil {
			return false
		}
		a.log.Warn().Err(err).Msg("getMe failed; retrying")
		if !sleep(ctx, backoff(attempt)) {
			return false
		}
	}
	return true
}

// registerWebhook tells Telegram where to post updates, with the secret it must echo.
func (a *Adapter) registerWebhook(ctx context.Context) {
	for attempt := 0; ; attempt++ {
		_, err := a.makeRequest(ctx, "setWebhook", tgbotapi.Params{
			"url":             a.cfg.WebhookURL,
			"secret_token":    a.cfg.WebhookSecret,
			"allowed_updates": `["` + strings.Join(allowedUpdates, `","`) + `"]`,
		})
		if err == nil {
			a.log.Info().Str("url", a.cfg.WebhookURL).Msg("webhook registered")
			return
		}
		if ctx.Err() != nil {
			return
		}
		a.log.Error().Err(err).Msg("setWebhook failed; retrying")
		if !sleep(ctx, backoff(attempt)) {
			return
		}
	}
}

// prune forgets processed updates once Telegram can no longer redeliver them.
func (a *Adapter) prune(ctx context.Context) {
	t := time.NewTicker(time.Hour)
	defer t.Stop()
	for {
		if _, err := a.store.TelegramPrune(ctx, a.name, a.now().Add(-48*time.Hour)); err != nil && ctx.Err() == nil {
			a.log.Warn().Err(err).Msg("pruning processed updates failed")
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// Typing shows "typing…" in the chat and keeps it up (Telegram clears it after 5 s) until
// a message is delivered, StopTyping is called, or 30 s pass.
func (a *Adapter) Typing(ctx context.Context, conv concierge.Conversation, contact concierge.Contact) error {
	chat, err := chatID(contact)
	if err != nil {
		return err
	}
	a.mu.Lock()
	if _, on := a.typing[chat]; on {
		a.mu.Unlock()
		return nil
	}
	stop := make(chan struct{})
	a.typing[chat] = stop
	a.mu.Unlock()
	if _, err := a.request(ctx, tgbotapi.NewChatAction(chat, tgbotapi.ChatTyping)); err != nil {
		a.stopTyping(chat)
		return fmt.Errorf("telegram: typing: %w", err)
	}
	go func() {
		defer a.stopTyping(chat)
		t := time.NewTicker(4 * time.Second)
		defer t.Stop()
		limit := time.NewTimer(30 * time.Second)
		defer limit.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-stop:
				return
			case <-limit.C:
				return
			case <-t.C:
				if _, err := a.request(ctx, tgbotapi.NewChatAction(chat, tgbotapi.ChatTyping)); err != nil {
					return
				}
			}
		}
	}()
	return nil
}

// StopTyping ends the typing indicator refresh for the contact's chat.
func (a *Adapter) StopTyping(ctx context.Context, conv concierge.Conversation, contact concierge.Contact) {
	if chat, err := chatID(contact); err == nil {
		a.stopTyping(chat)
	}
}

func (a *Adapter) stopTyping(chat int64) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if stop, on := a.typing[chat]; on {
		close(stop)
		delete(a.typing, chat)
	}
}

func chatID(c concierge.Contact) (int64, error) {
	id, err := strconv.ParseInt(c.ExternalID, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("telegram: contact %d has no chat id (%q): %w", c.ID, c.ExternalID, concierge.ErrUnreachable)
	}
	return id, nil
}

// tokenPrefix marks callback data that stands for a longer payload kept in the store.
const tokenPrefix = "~"

// callbackData is what a button carries: the payload itself when it fits Telegram's
// 64 bytes, otherwise a short token for it, stored before the button is sent. The token
// is a hash of the payload, so the same payload always maps to the same row.
func (a *Adapter) callbackData(ctx context.Context, payload string) (string, error) {
	if len(payload) <= 64 && utf8.ValidString(payload) && !strings.HasPrefix(payload, tokenPrefix) {
		return payload, nil
	}
	sum := sha256.Sum256([]byte(payload))
	tok := tokenPrefix + base64.RawURLEncoding.EncodeToString(sum[:18])
	a.mu.Lock()
	known := a.tokens[tok]
	a.mu.Unlock()
	if !known {
		if err := a.store.SetChannelState(ctx, a.name, "cb:"+tok, payload); err != nil {
			return "", fmt.Errorf("telegram: keep long button payload: %w", err)
		}
		a.mu.Lock()
		a.tokens[tok] = true
		a.mu.Unlock()
	}
	return tok, nil
}

// payloadOf resolves callback data back to the payload; ok=false when a token is unknown.
func (a *Adapter) payloadOf(ctx context.Context, data string) (payload string, ok bool, err error) {
	if !strings.HasPrefix(data, tokenPrefix) {
		return data, true, nil
	}
	p, err := a.store.ChannelState(ctx, a.name, "cb:"+data)
	if errors.Is(err, concierge.ErrNotFound) {
		return "", false, nil
	}
	if err != nil {
		return "", false, err
	}
	return p, true, nil
}

// keyboard lays quick replies out as an inline keyboard: short labels (ratings, yes/no)
// share a row, longer ones (article titles) get a row each.
func (a *Adapter) keyboard(ctx context.Context, qrs []concierge.QuickReply) (*tgbotapi.InlineKeyboardMarkup, error) {
	if len(qrs) == 0 {
		return nil, nil
	}
	var rows [][]tgbotapi.InlineKeyboardButton
	var row []tgbotapi.InlineKeyboardButton
	width := 0
	for _, q := range qrs {
		label := truncate(strings.TrimSpace(q.Label), 60)
		payload := q.Payload
		if payload == "" {
			payload = q.Label // a choice without a payload answers with its label
		}
		if label == "" {
			label = truncate(payload, 60)
		}
		data, err := a.callbackData(ctx, payload)
		if err != nil {
			return nil, err
		}
		w := utf8.RuneCountInString(label)
		if len(row) > 0 && (len(row) == 5 || width+w > 20) {
			rows = append(rows, row)
			row, width = nil, 0
		}
		row = append(row, tgbotapi.NewInlineKeyboardButtonData(label, data))
		width += w
	}
	rows = append(rows, row)
	kb := tgbotapi.NewInlineKeyboardMarkup(rows...)
	return &kb, nil
}

func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

// backoff grows 1s, 2s, 4s… up to 5 minutes.
func backoff(attempt int) time.Duration {
	return min(time.Second<<min(attempt, 9), 5*time.Minute)
}
