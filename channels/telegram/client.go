package telegram

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	tgbotapi "github.com/go-telegram-bot-api/telegram-bot-api/v5"

	"github.com/conciergehq/concierge"
	"github.com/conciergehq/concierge/channels"
)

// ctxClient gives one library call a context. The library builds its requests without
// one, so a long poll could not otherwise be cut short at shutdown.
type ctxClient struct {
	ctx context.Context
	c   *http.Client
}

func (c ctxClient) Do(req *http.Request) (*http.Response, error) {
	return c.c.Do(req.WithContext(c.ctx))
}

// api returns the bot for one call bound to ctx. BotAPI holds only the token, the
// endpoint and the client, so a shallow copy per call is cheap and safe.
func (a *Adapter) api(ctx context.Context) *tgbotapi.BotAPI {
	b := *a.bot
	b.Client = ctxClient{ctx: ctx, c: a.http}
	return &b
}

// call runs one Bot API method and returns its error with the token scrubbed.
func (a *Adapter) request(ctx context.Context, c tgbotapi.Chattable) (*tgbotapi.APIResponse, error) {
	resp, err := a.api(ctx).Request(c)
	return resp, a.scrub(err)
}

func (a *Adapter) send(ctx context.Context, c tgbotapi.Chattable) (tgbotapi.Message, error) {
	m, err := a.api(ctx).Send(c)
	return m, a.scrub(err)
}

func (a *Adapter) makeRequest(ctx context.Context, method string, p tgbotapi.Params) (*tgbotapi.APIResponse, error) {
	resp, err := a.api(ctx).MakeRequest(method, p)
	return resp, a.scrub(err)
}

// scrubbed is an error whose text had the bot token removed. It unwraps to the cause
// behind the transport's *url.Error (which carries the URL, and so the token), so
// errors.Is still sees context cancellation and timeouts.
type scrubbed struct {
	msg   string
	cause error
}

func (e *scrubbed) Error() string { return e.msg }
func (e *scrubbed) Unwrap() error { return e.cause }

// scrub removes the token from err. The library puts the token in every request URL and
// Go's HTTP client repeats the URL in its errors; Bot API errors (*tgbotapi.Error) carry
// only Telegram's description and pass through unchanged.
func (a *Adapter) scrub(err error) error {
	if err == nil {
		return nil
	}
	var apiErr *tgbotapi.Error
	if errors.As(err, &apiErr) {
		return apiErr
	}
	cause := err
	var ue *url.Error
	if errors.As(err, &ue) {
		cause = ue.Err
	}
	return &scrubbed{msg: a.redact(err.Error()), cause: cause}
}

func (a *Adapter) redact(s string) string {
	if a.token == "" {
		return s
	}
	for _, form := range []string{a.token, url.PathEscape(a.token), url.QueryEscape(a.token)} {
		s = strings.ReplaceAll(s, form, "<token>")
	}
	return s
}

// deliveryError turns a failed send into what the gateway's outbox understands: wait as
// told (429), give up on the contact (403, chat gone), or retry with backoff.
func deliveryError(err error) error {
	var e *tgbotapi.Error
	if !errors.As(err, &e) {
		return fmt.Errorf("telegram: send: %w", err)
	}
	// Uploads (multipart) leave Code unset; the parameters and description still tell.
	code := e.Code
	if code == 0 {
		switch {
		case e.RetryAfter > 0:
			code = http.StatusTooManyRequests
		case strings.HasPrefix(e.Message, "Forbidden"):
			code = http.StatusForbidden
		}
	}
	switch {
	case code == http.StatusTooManyRequests:
		d := time.Duration(max(e.RetryAfter, 1)) * time.Second
		return &channels.RetryAfter{Delay: d, Err: fmt.Errorf("telegram: %s", e.Message)}
	case code == http.StatusForbidden:
		// "bot was blocked by the user", "user is deactivated", "bot can't initiate conversation".
		return fmt.Errorf("telegram: %w: %s", concierge.ErrUnreachable, e.Message)
	case code == http.StatusBadRequest && strings.Contains(strings.ToLower(e.Message), "chat not found"):
		return fmt.Errorf("telegram: %w: %s", concierge.ErrUnreachable, e.Message)
	}
	return fmt.Errorf("telegram: send: %d %s", code, e.Message)
}

// isParseError reports Telegram refusing our HTML ("can't parse entities").
func isParseError(err error) bool {
	var e *tgbotapi.Error
	return errors.As(err, &e) && e.Code == http.StatusBadRequest && strings.Contains(e.Message, "can't parse entities")
}

// apiCode is the Bot API error code of err, 0 for other errors.
func apiCode(err error) int {
	var e *tgbotapi.Error
	if errors.As(err, &e) {
		return e.Code
	}
	return 0
}
