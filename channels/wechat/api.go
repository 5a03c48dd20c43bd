package wechat

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"net/textproto"
	"net/url"
	"strconv"
	"sync"
	"time"

	"github.com/conciergehq/concierge"
	"github.com/conciergehq/concierge/channels"
)

// APIError is an error code WeChat's API answered with.
type APIError struct {
	Op   string // the API path, e.g. message/custom/send
	Code int
	Msg  string
}

func (e *APIError) Error() string {
	if hint := errorHints[e.Code]; hint != "" {
		return fmt.Sprintf("wechat: %s: %s (errcode %d: %s)", e.Op, hint, e.Code, e.Msg)
	}
	return fmt.Sprintf("wechat: %s: errcode %d: %s", e.Op, e.Code, e.Msg)
}

// errorHints explain the codes operators and agents meet, in words they can act on.
var errorHints = map[int]string{
	-1:    "WeChat is busy",
	40001: "access token rejected (wrong app_secret, or another tool refreshed the token)",
	40003: "unknown OpenID",
	40164: "this server's IP address is not on the account's API IP whitelist",
	42001: "access token expired",
	43004: "the customer does not follow the account",
	45002: "message too long",
	45009: "API call quota exceeded",
	45015: "outside WeChat's 48-hour reply window; the customer must write again",
	45047: "reply limit reached (5 messages per customer message); the customer must write again",
	48001: "the account is not authorised for this API (it needs a verified Service Account)",
}

// tokenError reports codes that mean the access token must be fetched again.
func tokenError(code int) bool { return code == 40001 || code == 40014 || code == 42001 }

// classify turns a send error into what the gateway's outbox acts on.
func classify(err error) error {
	var ae *APIError
	if !errors.As(err, &ae) {
		return err
	}
	switch ae.Code {
	case 45015, 45047, 43004, 40003:
		return fmt.Errorf("%w: %w", concierge.ErrUnreachable, err)
	case -1:
		return &channels.RetryAfter{Delay: time.Second, Err: err}
	case 45009:
		return &channels.RetryAfter{Delay: 10 * time.Minute, Err: err}
	}
	return err
}

// apiClient calls the Official Account API with a cached access token.
type apiClient struct {
	base    string
	appID   string
	secret  string
	classic bool
	// wecom fetches tokens from cgi-bin/gettoken (appID is the CorpID, secret the app's).
	wecom bool
	hc    *http.Client
	now   func() time.Time

	// refresh makes one caller the refresher; the others wait for its token. A second
	// concurrent refresher would, with classic tokens, invalidate the first one's token.
	refresh sync.Mutex
	mu      sync.Mutex // guards token and expires
	token   string
	expires time.Time
}

// accessToken returns a cached token, fetching a new one when it is about to expire.
func (c *apiClient) accessToken(ctx context.Context) (string, error) {
	if tok := c.cached(); tok != "" {
		return tok, nil
	}
	c.refresh.Lock()
	defer c.refresh.Unlock()
	if tok := c.cached(); tok != "" {
		return tok, nil // another caller refreshed while we waited
	}
	tok, ttl, err := c.fetchToken(ctx)
	if err != nil {
		return "", err
	}
	// Refresh ahead of expiry (as silenceper does: classic tokens 25 minutes early, since
	// a refresh only overlaps the old token for about 5; stable tokens 5 minutes early).
	margin := 5 * time.Minute
	if c.classic {
		margin = 25 * time.Minute
	}
	margin = min(margin, ttl/2)
	c.mu.Lock()
	c.token, c.expires = tok, c.now().Add(ttl-margin)
	c.mu.Unlock()
	return tok, nil
}

func (c *apiClient) cached() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.token != "" && c.now().Before(c.expires) {
		return c.token
	}
	return ""
}

// invalidate forgets tok after WeChat refused it, unless a newer one replaced it already.
func (c *apiClient) invalidate(tok string) {
	c.mu.Lock()
	if c.token == tok {
		c.token = ""
	}
	c.mu.Unlock()
}

type tokenResponse struct {
	ErrCode     int    `json:"errcode"`
	ErrMsg      string `json:"errmsg"`
	AccessToken string `json:"access_token"`
	ExpiresIn   int64  `json:"expires_in"`
}

func (c *apiClient) fetchToken(ctx context.Context) (string, time.Duration, error) {
	op := "stable_token"
	var req *http.Request
	var err error
	switch {
	case c.wecom:
		op = "gettoken"
		q := url.Values{"corpid": {c.appID}, "corpsecret": {c.secret}}
		req, err = http.NewRequestWithContext(ctx, http.MethodGet, c.base+"/cgi-bin/gettoken?"+q.Encode(), nil)
	case c.classic:
		op = "token"
		q := url.Values{"grant_type": {"client_credential"}, "appid": {c.appID}, "secret": {c.secret}}
		req, err = http.NewRequestWithContext(ctx, http.MethodGet, c.base+"/cgi-bin/token?"+q.Encode(), nil)
	default:
		body, _ := json.Marshal(map[string]any{"grant_type": "client_credential", "appid": c.appID,
			"secret": c.secret, "force_refresh": false})
		req, err = http.NewRequestWithContext(ctx, http.MethodPost, c.base+"/cgi-bin/stable_token", bytes.NewReader(body))
		if req != nil {
			req.Header.Set("Content-Type", "application/json")
		}
	}
	if err != nil {
		return "", 0, fmt.Errorf("wechat: %s: %w", op, err)
	}
	var tr tokenResponse
	if err := c.roundTrip(req, op, &tr); err != nil {
		return "", 0, err
	}
	if tr.ErrCode != 0 {
		return "", 0, &APIError{Op: op, Code: tr.ErrCode, Msg: tr.ErrMsg}
	}
	if tr.AccessToken == "" || tr.ExpiresIn <= 0 {
		return "", 0, fmt.Errorf("wechat: %s: answer without a token", op)
	}
	return tr.AccessToken, time.Duration(tr.ExpiresIn) * time.Second, nil
}

// apiStatus is the error part every API answer carries.
type apiStatus struct {
	ErrCode int    `json:"errcode"`
	ErrMsg  string `json:"errmsg"`
}

// post calls a JSON API method and decodes its answer into out (when not nil),
// refreshing the token and retrying once when WeChat says the token is bad or expired.
func (c *apiClient) post(ctx context.Context, op string, body, out any) error {
	payload, err := json.Marshal(body)
	if err != nil {
		return fmt.Errorf("wechat: %s: %w", op, err)
	}
	for attempt := 0; ; attempt++ {
		tok, err := c.accessToken(ctx)
		if err != nil {
			return err
		}
		req, err := http.NewRequestWithContext(ctx, http.MethodPost,
			c.base+"/cgi-bin/"+op+"?access_token="+url.QueryEscape(tok), bytes.NewReader(payload))
		if err != nil {
			return fmt.Errorf("wechat: %s: %w", op, err)
		}
		req.Header.Set("Content-Type", "application/json; charset=utf-8")
		var raw json.RawMessage
		if err := c.roundTrip(req, op, &raw); err != nil {
			return err
		}
		var st apiStatus
		if err := json.Unmarshal(raw, &st); err != nil {
			return fmt.Errorf("wechat: %s: answer is not a JSON object", op)
		}
		if st.ErrCode == 0 {
			if out != nil {
				if err := json.Unmarshal(raw, out); err != nil {
					return fmt.Errorf("wechat: %s: unexpected answer: %w", op, err)
				}
			}
			return nil
		}
		if tokenError(st.ErrCode) && attempt == 0 {
			c.invalidate(tok)
			continue
		}
		return &APIError{Op: op, Code: st.ErrCode, Msg: st.ErrMsg}
	}
}

// roundTrip sends req and decodes a JSON answer into out. Errors never carry the URL: it
// holds the access token (or, for classic tokens, the app secret).
func (c *apiClient) roundTrip(req *http.Request, op string, out any) error {
	resp, err := c.hc.Do(req)
	if err != nil {
		return transportError(op, err)
	}
	defer resp.Body.Close()
	if err := statusError(op, resp); err != nil {
		return err
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return transportError(op, err)
	}
	if err := json.Unmarshal(body, out); err != nil {
		return fmt.Errorf("wechat: %s: answer is not JSON: %w", op, err)
	}
	return nil
}

func transportError(op string, err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err
	}
	return fmt.Errorf("wechat: %s: %w", op, err)
}

func statusError(op string, resp *http.Response) error {
	switch {
	case resp.StatusCode == http.StatusTooManyRequests:
		delay := 30 * time.Second
		if s, err := strconv.Atoi(resp.Header.Get("Retry-After")); err == nil && s > 0 {
			delay = time.Duration(s) * time.Second
		}
		return &channels.RetryAfter{Delay: delay, Err: fmt.Errorf("wechat: %s: HTTP 429", op)}
	case resp.StatusCode != http.StatusOK:
		return fmt.Errorf("wechat: %s: HTTP %d", op, resp.StatusCode)
	}
	return nil
}

// sendText sends a customer-service text message.
func (c *apiClient) sendText(ctx context.Context, openID, text string) error {
	return c.post(ctx, "message/custom/send", map[string]any{
		"touser": openID, "msgtype": "text", "text": map[string]string{"content": text}}, nil)
}

// sendImage sends a customer-service image message of an uploaded media id.
func (c *apiClient) sendImage(ctx context.Context, openID, mediaID string) error {
	return c.post(ctx, "message/custom/send", map[string]any{
		"touser": openID, "msgtype": "image", "image": map[string]string{"media_id": mediaID}}, nil)
}

// typing shows the "typing…" indicator in the customer's chat.
func (c *apiClient) typing(ctx context.Context, openID string) error {
	return c.post(ctx, "message/custom/typing", map[string]string{"touser": openID, "command": "Typing"}, nil)
}

// media is a downloaded file.
type media struct {
	Body io.ReadCloser
	Name string
	MIME string
}

// getMedia downloads a file a customer sent (temporary media, kept by WeChat for 3 days).
// The caller closes Body.
func (c *apiClient) getMedia(ctx context.Context, mediaID string) (media, error) {
	const op = "media/get"
	for attempt := 0; ; attempt++ {
		tok, err := c.accessToken(ctx)
		if err != nil {
			return media{}, err
		}
		q := url.Values{"access_token": {tok}, "media_id": {mediaID}}
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.base+"/cgi-bin/"+op+"?"+q.Encode(), nil)
		if err != nil {
			return media{}, fmt.Errorf("wechat: %s: %w", op, err)
		}
		resp, err := c.hc.Do(req)
		if err != nil {
			return media{}, transportError(op, err)
		}
		if err := statusError(op, resp); err != nil {
			resp.Body.Close()
			return media{}, err
		}
		ct, _, _ := mime.ParseMediaType(resp.Header.Get("Content-Type"))
		if ct != "application/json" && ct != "text/plain" {
			name := ""
			if _, params, err := mime.ParseMediaType(resp.Header.Get("Content-Disposition")); err == nil {
				name = params["filename"]
			}
			return media{Body: resp.Body, Name: name, MIME: ct}, nil
		}
		// Errors, and videos (whose answer is a link to the file), come as JSON.
		body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
		resp.Body.Close()
		if err != nil {
			return media{}, transportError(op, err)
		}
		var v struct {
			apiStatus
			VideoURL string `json:"video_url"`
		}
		if err := json.Unmarshal(body, &v); err != nil {
			return media{}, fmt.Errorf("wechat: %s: answer is neither a file nor JSON", op)
		}
		switch {
		case v.ErrCode != 0 && tokenError(v.ErrCode) && attempt == 0:
			c.invalidate(tok)
			continue
		case v.ErrCode != 0:
			return media{}, &APIError{Op: op, Code: v.ErrCode, Msg: v.ErrMsg}
		case v.VideoURL != "":
			return c.download(ctx, v.VideoURL)
		}
		return media{}, fmt.Errorf("wechat: %s: answer carries no file", op)
	}
}

func (c *apiClient) download(ctx context.Context, link string) (media, error) {
	const op = "media download"
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, link, nil)
	if err != nil {
		return media{}, fmt.Errorf("wechat: %s: %w", op, err)
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return media{}, transportError(op, err)
	}
	if err := statusError(op, resp); err != nil {
		resp.Body.Close()
		return media{}, err
	}
	ct, _, _ := mime.ParseMediaType(resp.Header.Get("Content-Type"))
	return media{Body: resp.Body, MIME: ct}, nil
}

// uploadImage uploads a temporary image and returns its media id (for sending agents'
// pictures, which live on our server where the customer cannot see them).
func (c *apiClient) uploadImage(ctx context.Context, name, mimeType string, data []byte) (string, error) {
	const op = "media/upload"
	for attempt := 0; ; attempt++ {
		tok, err := c.accessToken(ctx)
		if err != nil {
			return "", err
		}
		var body bytes.Buffer
		mw := multipart.NewWriter(&body)
		h := textproto.MIMEHeader{}
		h.Set("Content-Disposition", mime.FormatMediaType("form-data", map[string]string{"name": "media", "filename": name}))
		h.Set("Content-Type", mimeType)
		part, err := mw.CreatePart(h)
		if err != nil {
			return "", fmt.Errorf("wechat: %s: %w", op, err)
		}
		part.Write(data)
		mw.Close()
		q := url.Values{"access_token": {tok}, "type": {"image"}}
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.base+"/cgi-bin/"+op+"?"+q.Encode(), &body)
		if err != nil {
			return "", fmt.Errorf("wechat: %s: %w", op, err)
		}
		req.Header.Set("Content-Type", mw.FormDataContentType())
		var v struct {
			apiStatus
			MediaID string `json:"media_id"`
		}
		if err := c.roundTrip(req, op, &v); err != nil {
			return "", err
		}
		switch {
		case v.ErrCode != 0 && tokenError(v.ErrCode) && attempt == 0:
			c.invalidate(tok)
			continue
		case v.ErrCode != 0:
			return "", &APIError{Op: op, Code: v.ErrCode, Msg: v.ErrMsg}
		case v.MediaID == "":
			return "", fmt.Errorf("wechat: %s: answer without a media id", op)
		}
		return v.MediaID, nil
	}
}
