package wechat

import (
	"context"
	"crypto/sha256"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/conciergehq/concierge"
	"github.com/conciergehq/concierge/internal/blob"
)

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
