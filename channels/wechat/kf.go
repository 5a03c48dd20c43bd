package wechat

import (
	"context"
	"encoding/json"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/rs/zerolog"

	"github.com/conciergehq/concierge"
	"github.com/conciergehq/concierge/channels"
)

// KfConfig is the WeCom customer service (微信客服) of an account: customers reach it from
// WeChat through a customer-service link or QR code, without following anything. WeCom
// only notifies the callback that something happened; the messages are pulled with
// kf/sync_msg from a cursor kept in the store, and answers go out with kf/send_msg.
type KfConfig struct {
	// CorpID is the WeCom organisation (ww…); callbacks are encrypted for it.
	CorpID string
	// Secret is the customer-service app's secret.
	Secret string
	// Token and EncodingAESKey sign and encrypt the customer-service API callback.
	Token          string
	EncodingAESKey string
	// APIURL is the WeCom API base (default https://qyapi.weixin.qq.com).
	APIURL string
}

// kfAttribute is the contact attribute naming the customer-service account a customer
// wrote to; Deliver answers those contacts through WeCom.
const kfAttribute = "wecom_open_kfid"

// kfWelcomeWindow is how long the welcome_code of a customer entering a session works.
const kfWelcomeWindow = 20 * time.Second

// kfHistory bounds what the first pull imports: without a cursor, sync_msg returns the last
// days of messages, which must not all be answered now.
const kfHistory = 10 * time.Minute

type kf struct {
	a      *Account
	cfg    KfConfig
	cipher *Cipher
	api    *apiClient
	log    zerolog.Logger

	mu       sync.Mutex
	pending  map[string]string // open_kfid → newest callback token (valid 10 minutes)
	failures map[string]int    // open_kfid → pulls failed in a row
	welcome  map[string]kfWelcome
	wake     chan struct{}
}

type kfWelcome struct {
	code  string
	until time.Time
}

func newKf(a *Account, cfg KfConfig, hc *http.Client) (*kf, error) {
	if cfg.CorpID == "" || cfg.Secret == "" || cfg.Token == "" {
		return nil, errors.New("wechat: WeCom customer service needs corp_id, kf_secret and kf_token")
	}
	c, err := NewCipher(cfg.EncodingAESKey, cfg.CorpID)
	if err != nil {
		return nil, fmt.Errorf("wechat: kf_encoding_aes_key: %w", err)
	}
	if cfg.APIURL == "" {
		cfg.APIURL = "https://qyapi.weixin.qq.com"
	}
	return &kf{a: a, cfg: cfg, cipher: c, log: a.log.With().Str("via", "wecom-kf").Logger(),
		api: &apiClient{base: strings.TrimRight(cfg.APIURL, "/"), appID: cfg.CorpID, secret: cfg.Secret,
			wecom: true, hc: hc, now: a.now},
		pending: map[string]string{}, failures: map[string]int{}, welcome: map[string]kfWelcome{},
		wake: make(chan struct{}, 1)}, nil
}

// KfHandler is the handler of the customer-service callback (mount it at Path()+"/kf"),
// or nil when WeCom customer service is not configured.
func (a *Account) KfHandler() http.Handler {
	if a.kf == nil {
		return nil
	}
	return a.kf
}

// Run pulls WeCom customer-service messages when WeCom says there are some (and once at
// start, to catch up on what arrived while we were stopped). Without WeCom customer
// service it only waits for ctx.
func (a *Account) Run(ctx context.Context) error {
	if a.kf == nil {
		<-ctx.Done()
		return nil
	}
	return a.kf.run(ctx)
}

// ServeHTTP answers WeCom's callbacks: GET verifies the URL (the echostr is encrypted and
// must be returned decrypted), POST says that messages wait in sync_msg. Both are signed
// with msg_signature over the encrypted value.
func (k *kf) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	a := k.a
	q := r.URL.Query()
	ts, nonce := q.Get("timestamp"), q.Get("nonce")
	fresh := func() error {
		sec, err := strconv.ParseInt(ts, 10, 64)
		if err != nil {
			return refuse(http.StatusUnauthorized, "timestamp is not a number")
		}
		if d := a.now().Sub(time.Unix(sec, 0)); d > freshness || d < -freshness {
			return refuse(http.StatusUnauthorized, "stale timestamp (%s away from our clock)", d.Round(time.Second))
		}
		return nil
	}
	switch r.Method {
	case http.MethodGet:
		echo := q.Get("echostr")
		if !validSignature(q.Get("msg_signature"), k.cfg.Token, ts, nonce, echo) {
			a.fail(w, r, refuse(http.StatusUnauthorized, "wrong msg_signature"))
			return
		}
		if err := fresh(); err != nil {
			a.fail(w, r, err)
			return
		}
		plain, err := k.cipher.Decrypt(echo)
		if err != nil {
			a.fail(w, r, refuse(http.StatusBadRequest, "%v", err))
			return
		}
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.Write(plain)
		k.log.Info().Msg("customer-service callback URL verified by WeCom")
	case http.MethodPost:
		if r.ContentLength > maxBody {
			a.fail(w, r, refuse(http.StatusRequestEntityTooLarge, "body larger than %d bytes", maxBody))
			return
		}
		if err := fresh(); err != nil {
			a.fail(w, r, err)
			return
		}
		body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBody))
		if err != nil {
			a.fail(w, r, refuse(http.StatusRequestEntityTooLarge, "body larger than %d bytes", maxBody))
			return
		}
		ev, err := k.open(q, body)
		if err != nil {
			a.fail(w, r, err)
			return
		}
		if ev.Event == "kf_msg_or_event" && ev.OpenKfID != "" {
			k.trigger(ev.OpenKfID, ev.Token)
		}
		ack(w)
	default:
		w.Header().Set("Allow", "GET, POST")
		http.Error(w, "WeCom callbacks are GET (URL verification) or POST (events)", http.StatusMethodNotAllowed)
	}
}

// kfEvent is the decrypted body of a customer-service callback.
type kfEvent struct {
	XMLName    xml.Name `xml:"xml"`
	ToUserName string   `xml:"ToUserName"`
	CreateTime int64    `xml:"CreateTime"`
	MsgType    string   `xml:"MsgType"`
	Event      string   `xml:"Event"`
	Token      string   `xml:"Token"`
	OpenKfID   string   `xml:"OpenKfId"`
}

func (k *kf) open(q map[string][]string, body []byte) (*kfEvent, error) {
	get := func(key string) string {
		if v := q[key]; len(v) > 0 {
			return v[0]
		}
		return ""
	}
	var env envelope
	if err := xml.Unmarshal(body, &env); err != nil {
		return nil, refuse(http.StatusBadRequest, "malformed XML: %v", err)
	}
	if env.Encrypt == "" {
		return nil, refuse(http.StatusBadRequest, "callback without Encrypt")
	}
	if !validSignature(get("msg_signature"), k.cfg.Token, get("timestamp"), get("nonce"), env.Encrypt) {
		return nil, refuse(http.StatusUnauthorized, "wrong msg_signature")
	}
	plain, err := k.cipher.Decrypt(env.Encrypt)
	if errors.Is(err, errWrongAppID) {
		return nil, refuse(http.StatusForbidden, "encrypted for another CorpID")
	}
	if err != nil {
		return nil, refuse(http.StatusBadRequest, "%v", err)
	}
	var ev kfEvent
	if err := xml.Unmarshal(plain, &ev); err != nil {
		return nil, refuse(http.StatusBadRequest, "malformed XML: %v", err)
	}
	if ev.ToUserName != k.cfg.CorpID {
		return nil, refuse(http.StatusForbidden, "addressed to %q, not this CorpID", truncate(ev.ToUserName, 64))
	}
	return &ev, nil
}

// trigger asks the puller to read a customer-service account's new messages. A callback's
// token lifts sync_msg's strict rate limit; an empty one keeps the last known.
func (k *kf) trigger(openKfID, token string) {
	k.mu.Lock()
	if token != "" || k.pending[openKfID] == "" {
		k.pending[openKfID] = token
	}
	k.mu.Unlock()
	select {
	case k.wake <- struct{}{}:
	default:
	}
}

func (k *kf) run(ctx context.Context) error {
	for _, id := range k.known(ctx) {
		k.trigger(id, "")
	}
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-k.wake:
		}
		k.mu.Lock()
		batch := k.pending
		k.pending = map[string]string{}
		k.mu.Unlock()
		for id, token := range batch {
			err := k.sync(ctx, id, token)
			if ctx.Err() != nil {
				return nil
			}
			k.mu.Lock()
			if err == nil {
				delete(k.failures, id)
				k.mu.Unlock()
				continue
			}
			k.failures[id]++
			delay := min(time.Second<<min(k.failures[id], 9), 5*time.Minute)
			k.mu.Unlock()
			k.log.Warn().Err(err).Str("open_kfid", id).Dur("retry_in", delay).Msg("pulling customer-service messages failed")
			time.AfterFunc(delay, func() { k.trigger(id, token) })
		}
	}
}

// known lists the customer-service accounts pulled before (to catch up at start).
func (k *kf) known(ctx context.Context) []string {
	v, err := k.a.st.ChannelState(ctx, k.a.channel, "kf_accounts")
	if err != nil {
		return nil
	}
	var ids []string
	_ = json.Unmarshal([]byte(v), &ids)
	return ids
}

type kfMessage struct {
	MsgID          string `json:"msgid"`
	OpenKfID       string `json:"open_kfid"`
	ExternalUserID string `json:"external_userid"`
	SendTime       int64  `json:"send_time"`
	Origin         int    `json:"origin"`
	MsgType        string `json:"msgtype"`
	Text           struct {
		Content string `json:"content"`
		MenuID  string `json:"menu_id"`
	} `json:"text"`
	Image struct {
		MediaID string `json:"media_id"`
	} `json:"image"`
	Voice struct {
		MediaID string `json:"media_id"`
	} `json:"voice"`
	Video struct {
		MediaID string `json:"media_id"`
	} `json:"video"`
	File struct {
		MediaID string `json:"media_id"`
	} `json:"file"`
	Location struct {
		Latitude  float64 `json:"latitude"`
		Longitude float64 `json:"longitude"`
		Name      string  `json:"name"`
		Address   string  `json:"address"`
	} `json:"location"`
	Link struct {
		Title string `json:"title"`
		Desc  string `json:"desc"`
		URL   string `json:"url"`
	} `json:"link"`
	Event struct {
		EventType      string `json:"event_type"`
		OpenKfID       string `json:"open_kfid"`
		ExternalUserID string `json:"external_userid"`
		SceneParam     string `json:"scene_param"`
		WelcomeCode    string `json:"welcome_code"`
		FailMsgID      string `json:"fail_msgid"`
		FailType       int    `json:"fail_type"`
	} `json:"event"`
}

// sync pulls everything new for one customer-service account, page by page, storing each
// page's messages before moving the persisted cursor past them: a crash re-reads at most
// one page, and the message ids make that harmless.
func (k *kf) sync(ctx context.Context, openKfID, token string) error {
	key := "kf_cursor:" + openKfID
	cursor, err := k.a.st.ChannelState(ctx, k.a.channel, key)
	first := errors.Is(err, concierge.ErrNotFound)
	if err != nil && !first {
		return err
	}
	// Without a cursor this pull starts from WeCom's retained history, page after page.
	skipHistory := first
	for {
		req := map[string]any{"cursor": cursor, "limit": 1000, "open_kfid": openKfID}
		if token != "" {
			req["token"] = token
		}
		var page struct {
			NextCursor string      `json:"next_cursor"`
			HasMore    int         `json:"has_more"`
			MsgList    []kfMessage `json:"msg_list"`
		}
		if err := k.api.post(ctx, "kf/sync_msg", req, &page); err != nil {
			return err
		}
		for _, m := range page.MsgList {
			if skipHistory && k.a.now().Sub(time.Unix(m.SendTime, 0)) > kfHistory {
				continue // history from before we were connected: not answered now
			}
			if err := k.handle(ctx, m); err != nil {
				return err
			}
		}
		if page.NextCursor != "" && page.NextCursor != cursor {
			if err := k.a.st.SetChannelState(ctx, k.a.channel, key, page.NextCursor); err != nil {
				return err
			}
			if first {
				k.remember(ctx, openKfID)
				first = false
			}
			cursor = page.NextCursor
		}
		if page.HasMore != 1 {
			return nil
		}
	}
}

func (k *kf) remember(ctx context.Context, openKfID string) {
	ids := k.known(ctx)
	if slices.Contains(ids, openKfID) {
		return
	}
	b, _ := json.Marshal(append(ids, openKfID))
	if err := k.a.st.SetChannelState(ctx, k.a.channel, "kf_accounts", string(b)); err != nil {
		k.log.Warn().Err(err).Msg("cannot remember the customer-service account for catching up at start")
	}
}

// handle stores one pulled message: customers' messages (origin 3) and their entering a
// session; our own agents' messages and other system events are skipped.
func (k *kf) handle(ctx context.Context, m kfMessage) error {
	in := concierge.Inbound{Channel: k.a.channel, ContactID: m.ExternalUserID, MessageID: "kf:" + m.MsgID,
		Profile:    concierge.Profile{Attributes: map[string]string{kfAttribute: m.OpenKfID}},
		ReceivedAt: k.a.created(m.SendTime)}
	switch {
	case m.MsgType == "event" && m.Event.EventType == "enter_session":
		in.ContactID = m.Event.ExternalUserID
		in.Profile.Attributes[kfAttribute] = m.Event.OpenKfID
		in.Action = concierge.ActionStart
		if m.Event.SceneParam != "" {
			in.Meta = map[string]string{"kf_scene": m.Event.SceneParam}
		}
		if m.Event.WelcomeCode != "" {
			k.mu.Lock()
			k.welcome[in.ContactID] = kfWelcome{code: m.Event.WelcomeCode, until: k.a.now().Add(kfWelcomeWindow)}
			k.mu.Unlock()
		}
	case m.MsgType == "event" && m.Event.EventType == "msg_send_fail":
		k.log.Warn().Str("msgid", m.Event.FailMsgID).Int("fail_type", m.Event.FailType).Msg("WeCom could not deliver a message")
		return nil
	case m.Origin != 3:
		return nil
	default:
		if !k.fill(ctx, &in, m) {
			return nil
		}
	}
	if in.ContactID == "" {
		return nil
	}
	if _, err := k.a.gw.Receive(ctx, in); err != nil {
		if errors.Is(err, concierge.ErrInvalid) {
			k.log.Warn().Err(err).Str("msgid", m.MsgID).Msg("customer-service message skipped")
			return nil
		}
		return err
	}
	return nil
}

// fill sets what a customer's message says; false for kinds we do not take.
func (k *kf) fill(ctx context.Context, in *concierge.Inbound, m kfMessage) bool {
	deadline := time.Now().Add(20 * time.Second)
	switch m.MsgType {
	case "text":
		in.Text = strings.TrimSpace(m.Text.Content)
		in.Payload = m.Text.MenuID // a click on a menu we sent: its id is the choice's payload
		if in.Payload == "" {
			in.Payload = k.a.choice(ctx, m.ExternalUserID, in.Text)
		}
		return in.Text != "" || in.Payload != ""
	case "image":
		in.Attachments = []concierge.Attachment{k.a.media(ctx, k.api, deadline, "image", m.Image.MediaID, "", "")}
	case "voice":
		in.Attachments = []concierge.Attachment{k.a.media(ctx, k.api, deadline, "voice", m.Voice.MediaID, "", "amr")}
	case "video":
		in.Attachments = []concierge.Attachment{k.a.media(ctx, k.api, deadline, "video", m.Video.MediaID, "", "")}
	case "file":
		in.Attachments = []concierge.Attachment{k.a.media(ctx, k.api, deadline, "file", m.File.MediaID, "", "")}
	case "location":
		l := m.Location
		in.Attachments = []concierge.Attachment{{Kind: "location", Name: l.Name, Text: strings.TrimSpace(l.Name + " " + l.Address),
			URL: "geo:" + strconv.FormatFloat(l.Latitude, 'f', -1, 64) + "," + strconv.FormatFloat(l.Longitude, 'f', -1, 64)}}
	case "link":
		att := concierge.Attachment{Kind: "link", Name: m.Link.Title, Text: m.Link.Desc}
		if strings.HasPrefix(m.Link.URL, "https://") || strings.HasPrefix(m.Link.URL, "http://") {
			att.URL = m.Link.URL
		}
		in.Attachments = []concierge.Attachment{att}
	default:
		k.log.Debug().Str("type", m.MsgType).Msg("customer-service message type not handled")
		return false
	}
	return true
}

// kfMenuFits reports whether choices can be a clickable menu (msgmenu): WeCom limits the
// click id and label lengths.
func kfMenuFits(qrs []concierge.QuickReply) bool {
	if len(qrs) == 0 || len(qrs) > 10 {
		return false
	}
	for _, q := range qrs {
		if q.Payload == "" || len(q.Payload) > 128 || len(q.Label) > 128 {
			return false
		}
	}
	return true
}

// deliver sends a message to a customer of WeCom customer service. Each part has a msgid
// made of the message id and the part number, so WeCom recognises a resend.
func (k *kf) deliver(ctx context.Context, d channels.Delivery, openKfID string) (string, error) {
	to := d.Contact.ExternalID
	m := d.Message
	menu := kfMenuFits(m.QuickReplies)
	var bodies []map[string]any
	if menu {
		plain := m
		plain.QuickReplies = nil
		texts := render(plain, d.Conversation.Language)
		head := ""
		if len(texts) > 0 {
			head, texts = texts[len(texts)-1], texts[:len(texts)-1]
		}
		for _, t := range texts {
			bodies = append(bodies, map[string]any{"msgtype": "text", "text": map[string]string{"content": t}})
		}
		var list []map[string]any
		for _, q := range m.QuickReplies {
			list = append(list, map[string]any{"type": "click", "click": map[string]string{"id": q.Payload, "content": q.Label}})
		}
		bodies = append(bodies, map[string]any{"msgtype": "msgmenu", "msgmenu": map[string]any{"head_content": head, "list": list}})
	} else {
		for _, t := range render(m, d.Conversation.Language) {
			bodies = append(bodies, map[string]any{"msgtype": "text", "text": map[string]string{"content": t}})
		}
	}
	images := k.a.ownImages(m)
	total := len(bodies) + len(images)
	from := k.a.sentParts(m.ID)
	for i := from; i < total; i++ {
		var body map[string]any
		if i < len(bodies) {
			body = bodies[i]
		} else {
			mediaID, err := k.uploadImage(ctx, images[i-len(bodies)])
			if err != nil {
				return "", k.a.partFailed(m.ID, i, err)
			}
			body = map[string]any{"msgtype": "image", "image": map[string]string{"media_id": mediaID}}
		}
		body["msgid"] = fmt.Sprintf("c%d-%d", m.ID, i)
		op := "kf/send_msg"
		body["touser"], body["open_kfid"] = to, openKfID
		if i == 0 && body["msgtype"] != "image" {
			if code := k.takeWelcome(to); code != "" {
				op, body["code"] = "kf/send_msg_on_event", code
				delete(body, "touser")
				delete(body, "open_kfid")
			}
		}
		if err := k.api.post(ctx, op, body, nil); err != nil {
			return "", k.a.partFailed(m.ID, i, err)
		}
	}
	k.a.partsDone(m.ID)
	return "kf", nil
}

// takeWelcome returns, once, the welcome code of a customer who just entered a session:
// the first answer to them is sent with it (send_msg_on_event).
func (k *kf) takeWelcome(externalUserID string) string {
	k.mu.Lock()
	defer k.mu.Unlock()
	w, ok := k.welcome[externalUserID]
	delete(k.welcome, externalUserID)
	if !ok || k.a.now().After(w.until) {
		return ""
	}
	return w.code
}

func (k *kf) uploadImage(ctx context.Context, key string) (string, error) {
	data, meta, err := k.a.readImage(key)
	if err != nil {
		return "", err
	}
	return k.api.uploadImage(ctx, meta.Name, meta.MIME, data)
}
