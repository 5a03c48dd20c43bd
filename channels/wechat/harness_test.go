package wechat

import (
	"bytes"
	"context"
	"crypto/aes"
	"crypto/cipher"
	"encoding/base64"
	"encoding/binary"
	"encoding/xml"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/conciergehq/concierge"
	"github.com/conciergehq/concierge/channels"
	"github.com/conciergehq/concierge/internal/blob"
	"github.com/conciergehq/concierge/internal/bus"
	"github.com/conciergehq/concierge/internal/store"
)

const (
	testToken  = "callback-token-42"
	testAESKey = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"
	testAppID  = "wx0123456789abcdef"
	testSecret = "app-secret-never-logged"
	testOrigID = "gh_0123456789ab"

	testCorpID   = "ww0123456789abcdef"
	testKfSecret = "kf-secret-never-logged"
	testKfToken  = "kf-callback-token"
	testKfAESKey = "ZYXWVUTSRQPONMLKJIHGFEDCBA9876543210zyxwvut"
)

// testBot is a small Responder: it greets on follow, escalates on request, offers choices
// on "choices", answers at length on "long", and otherwise echoes. hold, when set, makes
// it wait (a slow model) until the channel is closed.
type testBot struct {
	mu    sync.Mutex
	turns []concierge.Message
	hold  chan struct{}
	long  string
	// entered, when set, is told each time a turn starts.
	entered chan struct{}
}

func (b *testBot) Respond(ctx context.Context, t channels.Turn) (concierge.Reply, error) {
	b.mu.Lock()
	b.turns = append(b.turns, t.Message)
	hold, entered := b.hold, b.entered
	b.mu.Unlock()
	if entered != nil {
		entered <- struct{}{}
	}
	if hold != nil {
		select {
		case <-hold:
		case <-ctx.Done():
			return concierge.Reply{}, ctx.Err()
		}
	}
	m := t.Message
	say := func(text string, qrs ...concierge.QuickReply) concierge.Reply {
		return concierge.Reply{Messages: []concierge.Outgoing{{Sender: concierge.SenderBot, Text: text, QuickReplies: qrs}},
			Decision: concierge.Decision{Action: "answer", Query: m.Text}}
	}
	switch {
	case m.Action() == concierge.ActionStart:
		return say("Welcome! Ask me anything."), nil
	case m.Action() == concierge.ActionHuman || m.Text == "human":
		r := say("Connecting you to a person.")
		r.Escalation = &concierge.Escalation{Reason: "asked_for_human", Team: "support"}
		r.Decision.Action = "escalate"
		return r, nil
	case m.Text == "choices":
		return say("Did this help?", concierge.QuickReply{Label: "Yes", Payload: "helped:yes"},
			concierge.QuickReply{Label: "No", Payload: "helped:no"}), nil
	case m.Text == "long":
		return say(b.long), nil
	case m.Payload != "":
		return say("picked " + m.Payload), nil
	case m.Text == "" && len(m.Attachments) > 0:
		return say("got a " + m.Attachments[0].Kind), nil
	}
	return say("answer: " + m.Text), nil
}

func (b *testBot) seen() []concierge.Message {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]concierge.Message(nil), b.turns...)
}

// testHandoff queues escalations and records customer messages and ratings, with plain
// SQL as the real handoff would do in its own transaction.
type testHandoff struct {
	st      *store.Store
	mu      sync.Mutex
	msgs    []string
	ratings []int
	rated   chan int
	// thanks, when set, is used to thank the customer for a rating.
	thanks interface {
		Send(ctx context.Context, convID int64, out concierge.Outgoing) (concierge.Message, error)
	}
}

func (h *testHandoff) Escalate(ctx context.Context, conv concierge.Conversation, esc concierge.Escalation) error {
	return h.st.Write(ctx, func(ctx context.Context, tx *store.Tx) error {
		_, err := tx.ExecContext(ctx, `UPDATE conversations SET status = 'queued', team = ?, pending_escalation = NULL WHERE id = ?`,
			esc.Team, conv.ID)
		return err
	})
}

func (h *testHandoff) CustomerMessage(ctx context.Context, conv concierge.Conversation, msg concierge.Message) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.msgs = append(h.msgs, msg.Text)
	return nil
}

func (h *testHandoff) Rate(ctx context.Context, conv concierge.Conversation, msg concierge.Message, rating int, comment string) error {
	err := h.st.Write(ctx, func(ctx context.Context, tx *store.Tx) error {
		_, err := tx.ExecContext(ctx, `UPDATE conversations SET csat_pending = 0 WHERE id = ?`, conv.ID)
		return err
	})
	if err != nil {
		return err
	}
	h.mu.Lock()
	h.ratings = append(h.ratings, rating)
	thanks := h.thanks
	h.mu.Unlock()
	h.rated <- rating
	if thanks != nil {
		_, err = thanks.Send(ctx, conv.ID, concierge.Outgoing{Sender: concierge.SenderSystem,
			Text: fmt.Sprintf("Thanks for rating us %d/5.", rating)})
	}
	return err
}

// syncBuffer collects log output written from several goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

type harness struct {
	t       testing.TB
	st      *store.Store
	bus     *bus.Bus
	gw      *channels.Gateway
	acct    *Account
	api     *fakeAPI
	kfAPI   *fakeAPI // WeCom, when the harness has customer service
	srv     *httptest.Server
	bot     *testBot
	handoff *testHandoff
	files   *blob.Store
	cfg     Config
	logs    *syncBuffer
	events  *bus.Subscription
	nonce   atomic.Int64
}

type harnessOpts struct {
	mode        string
	budget      time.Duration
	typingDelay time.Duration
	menu        map[string]Click
	classic     bool
	noAPI       bool // API base pointing at a closed port
	kf          bool // add WeCom customer service
	// beforeRun prepares the store before the account starts (state left by a previous run).
	beforeRun func(h *harness)
}

func newHarness(t testing.TB, o harnessOpts) *harness {
	t.Helper()
	if o.mode == "" {
		o.mode = "safe"
	}
	if o.budget == 0 {
		// Generous so that a busy test machine still answers passively; a passing test
		// never waits it out, since the reply ends the wait.
		o.budget = 10 * time.Second
	}
	if o.typingDelay == 0 {
		o.typingDelay = time.Hour // no typing indicator unless a test asks for it
	}
	logs := &syncBuffer{}
	log := zerolog.New(io.MultiWriter(zerolog.NewTestWriter(t), logs)).Level(zerolog.DebugLevel)
	st, err := store.Open(context.Background(), filepath.Join(t.TempDir(), "wechat.db"), log, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	files, err := blob.New(filepath.Join(t.TempDir(), "uploads"), 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	h := &harness{t: t, st: st, bus: bus.New(), bot: &testBot{}, files: files, logs: logs}
	h.handoff = &testHandoff{st: st, rated: make(chan int, 10)}
	h.events = h.bus.Subscribe(concierge.TopicAgents, 1024)
	h.api = newFakeAPI(t, testAppID, testSecret)
	h.gw = channels.New(st, h.bus, nil, log, channels.Options{Workers: 4, OutboxScan: 20 * time.Millisecond, TypingDelay: o.typingDelay})
	h.gw.SetResponder(h.bot)
	h.gw.SetHandoff(h.handoff)
	apiURL := h.api.srv.URL
	if o.noAPI {
		ln := httptest.NewServer(http.NotFoundHandler())
		apiURL = ln.URL
		ln.Close()
	}
	h.cfg = Config{Name: "main", OriginalID: testOrigID, AppID: testAppID, AppSecret: testSecret, Token: testToken,
		Mode: o.mode, APIURL: apiURL, ReplyBudget: o.budget, Menu: o.menu, ClassicToken: o.classic}
	if o.mode != "plaintext" {
		h.cfg.EncodingAESKey = testAESKey
	}
	if o.kf {
		h.kfAPI = newFakeAPI(t, testCorpID, testKfSecret)
		h.cfg.Kf = &KfConfig{CorpID: testCorpID, Secret: testKfSecret, Token: testKfToken,
			EncodingAESKey: testKfAESKey, APIURL: h.kfAPI.srv.URL}
	}
	if o.beforeRun != nil {
		h.st = st
		o.beforeRun(h)
	}
	h.acct, err = New(h.cfg, Deps{Gateway: h.gw, Store: st, Files: files}, log)
	if err != nil {
		t.Fatal(err)
	}
	if err := h.gw.Register(h.acct); err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.Handle(h.acct.Path(), h.acct)
	if kfh := h.acct.KfHandler(); kfh != nil {
		mux.Handle(h.acct.Path()+"/kf", kfh)
	}
	h.srv = httptest.NewServer(mux)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		var wg sync.WaitGroup
		wg.Add(1)
		go func() { defer wg.Done(); h.acct.Run(ctx) }()
		h.gw.Run(ctx)
		wg.Wait()
		close(done)
	}()
	t.Cleanup(func() {
		h.srv.Close()
		cancel()
		<-done
		h.events.Close()
		st.Close()
		for _, secret := range []string{testSecret, testAESKey, testKfSecret, testKfAESKey, "tok-1", "tok-2"} {
			if strings.Contains(logs.String(), secret) {
				t.Errorf("a secret (%s…) appeared in the logs", secret[:4])
			}
		}
	})
	return h
}

// msg is a callback body's fields, in WeChat's order.
type msg map[string]string

var fieldOrder = []string{"ToUserName", "FromUserName", "CreateTime", "MsgType", "Content", "PicUrl", "MediaId",
	"Format", "Recognition", "Location_X", "Location_Y", "Scale", "Label", "Title", "Description", "Url", "Event",
	"EventKey", "Ticket", "MsgId"}

// xmlOf renders a callback as WeChat does: <xml>, string values in CDATA.
func xmlOf(m msg) string {
	var b strings.Builder
	b.WriteString("<xml>")
	for _, k := range fieldOrder {
		v, ok := m[k]
		if !ok {
			continue
		}
		if k == "CreateTime" || k == "MsgId" || k == "Scale" || strings.HasPrefix(k, "Location") {
			fmt.Fprintf(&b, "<%s>%s</%s>", k, v, k)
		} else {
			fmt.Fprintf(&b, "<%s><![CDATA[%s]]></%s>", k, v, k)
		}
	}
	b.WriteString("</xml>")
	return b.String()
}

func text(from, content, msgID string) msg {
	return msg{"ToUserName": testOrigID, "FromUserName": from, "CreateTime": strconv.FormatInt(time.Now().Unix(), 10),
		"MsgType": "text", "Content": content, "MsgId": msgID}
}

// testEncrypt builds a safe-mode ciphertext independently of the package's Cipher, from
// the layout in the reference: random(16) ‖ uint32 BE length ‖ msg ‖ appid, PKCS#7 to 32,
// AES-256-CBC with IV = key[:16].
func testEncrypt(t testing.TB, msg []byte, appID string) string {
	t.Helper()
	return testEncryptWith(t, testAESKey, msg, appID)
}

func testEncryptWith(t testing.TB, encodingAESKey string, msg []byte, appID string) string {
	t.Helper()
	key, err := base64.StdEncoding.DecodeString(encodingAESKey + "=")
	if err != nil || len(key) != 32 {
		t.Fatalf("test key: %v (%d bytes)", err, len(key))
	}
	plain := append([]byte("0123456789abcdef"), binary.BigEndian.AppendUint32(nil, uint32(len(msg)))...)
	plain = append(append(plain, msg...), appID...)
	pad := 32 - len(plain)%32
	plain = append(plain, bytes.Repeat([]byte{byte(pad)}, pad)...)
	block, _ := aes.NewCipher(key)
	out := make([]byte, len(plain))
	cipher.NewCBCEncrypter(block, key[:16]).CryptBlocks(out, plain)
	return base64.StdEncoding.EncodeToString(out)
}

// testDecrypt opens a ciphertext and checks its layout, returning the message and app id.
func testDecrypt(t testing.TB, enc string) (msg []byte, appID string) {
	t.Helper()
	key, _ := base64.StdEncoding.DecodeString(testAESKey + "=")
	raw, err := base64.StdEncoding.DecodeString(enc)
	if err != nil || len(raw)%32 != 0 {
		t.Fatalf("ciphertext of %d bytes (err %v): want base64 of a multiple of 32 bytes", len(raw), err)
	}
	block, _ := aes.NewCipher(key)
	plain := make([]byte, len(raw))
	cipher.NewCBCDecrypter(block, key[:16]).CryptBlocks(plain, raw)
	pad := int(plain[len(plain)-1])
	if pad < 1 || pad > 32 || !bytes.Equal(plain[len(plain)-pad:], bytes.Repeat([]byte{byte(pad)}, pad)) {
		t.Fatalf("bad PKCS#7 padding to 32: last byte %d", pad)
	}
	plain = plain[:len(plain)-pad]
	n := binary.BigEndian.Uint32(plain[16:20])
	return plain[20 : 20+n], string(plain[20+n:])
}

type callOpts struct {
	mode      string // plaintext, compatible or safe (default: the harness's mode)
	timestamp int64
	nonce     string
	badSig    bool
	badMsgSig bool
	rawBody   string // sent as is (plaintext) or encrypted as is
	encrypted string // the Encrypt value to send as is
}

// call posts a signed (and in safe mode encrypted) callback and returns the status and
// the reply text: "" for "success", the Content of a passive reply otherwise.
func (h *harness) call(m msg, o callOpts) (status int, reply string) {
	h.t.Helper()
	if o.mode == "" {
		o.mode = h.cfg.Mode
	}
	if o.timestamp == 0 {
		o.timestamp = time.Now().Unix()
	}
	if o.nonce == "" {
		o.nonce = "n" + strconv.FormatInt(h.nonce.Add(1), 10)
	}
	ts := strconv.FormatInt(o.timestamp, 10)
	inner := o.rawBody
	if inner == "" {
		inner = xmlOf(m)
	}
	q := url.Values{"timestamp": {ts}, "nonce": {o.nonce}, "openid": {m["FromUserName"]},
		"signature": {Signature(testToken, ts, o.nonce)}}
	if o.badSig {
		q.Set("signature", Signature("wrong-token", ts, o.nonce))
	}
	body := inner
	if o.mode != "plaintext" {
		enc := o.encrypted
		if enc == "" {
			enc = testEncrypt(h.t, []byte(inner), testAppID)
		}
		q.Set("encrypt_type", "aes")
		sig := Signature(testToken, ts, o.nonce, enc)
		if o.badMsgSig {
			sig = Signature(testToken, ts, o.nonce, enc+"x")
		}
		q.Set("msg_signature", sig)
		if o.mode == "compatible" {
			body = strings.Replace(inner, "</xml>", "<Encrypt><![CDATA["+enc+"]]></Encrypt></xml>", 1)
		} else {
			body = "<xml><ToUserName><![CDATA[" + testOrigID + "]]></ToUserName><Encrypt><![CDATA[" + enc + "]]></Encrypt></xml>"
		}
	}
	resp, err := http.Post(h.srv.URL+h.acct.Path()+"?"+q.Encode(), "text/xml", strings.NewReader(body))
	if err != nil {
		h.t.Fatal(err)
	}
	defer resp.Body.Close()
	out, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		return resp.StatusCode, string(out)
	}
	return resp.StatusCode, h.replyText(string(out), m["FromUserName"], o.mode == "plaintext")
}

// replyText checks a callback's answer and returns the passive reply's content.
func (h *harness) replyText(body, openID string, plaintext bool) string {
	h.t.Helper()
	if body == "success" {
		return ""
	}
	raw := []byte(body)
	if !plaintext {
		var env struct {
			Encrypt      string `xml:"Encrypt"`
			MsgSignature string `xml:"MsgSignature"`
			TimeStamp    string `xml:"TimeStamp"`
			Nonce        string `xml:"Nonce"`
		}
		if err := xml.Unmarshal(raw, &env); err != nil || env.Encrypt == "" {
			h.t.Fatalf("safe-mode reply is not an encrypted envelope: %q", body)
		}
		if env.MsgSignature != Signature(testToken, env.TimeStamp, env.Nonce, env.Encrypt) {
			h.t.Fatalf("encrypted reply's MsgSignature does not verify")
		}
		var appID string
		raw, appID = testDecrypt(h.t, env.Encrypt)
		if appID != testAppID {
			h.t.Fatalf("encrypted reply carries app id %q, want %q", appID, testAppID)
		}
	}
	var r struct {
		ToUserName   string `xml:"ToUserName"`
		FromUserName string `xml:"FromUserName"`
		CreateTime   int64  `xml:"CreateTime"`
		MsgType      string `xml:"MsgType"`
		Content      string `xml:"Content"`
	}
	if err := xml.Unmarshal(raw, &r); err != nil {
		h.t.Fatalf("passive reply %q: %v", raw, err)
	}
	if r.ToUserName != openID || r.FromUserName != testOrigID || r.MsgType != "text" || r.CreateTime == 0 {
		h.t.Fatalf("passive reply %+v: want a text from %s to %s", r, testOrigID, openID)
	}
	return r.Content
}

// waitDelivered waits for the delivery outcome of the next n outbound messages.
func (h *harness) waitDelivered(n int) []concierge.Delivery {
	h.t.Helper()
	var out []concierge.Delivery
	deadline := time.After(10 * time.Second)
	for len(out) < n {
		select {
		case ev, ok := <-h.events.C:
			if !ok {
				h.t.Fatal("event subscription dropped")
			}
			if ev.Kind == concierge.EventDelivery {
				out = append(out, *ev.Delivery)
			}
		case <-deadline:
			h.t.Fatalf("%d of %d deliveries reported within 10s", len(out), n)
		}
	}
	return out
}

// noMoreDeliveries asserts that no further delivery is reported for a while.
func (h *harness) noMoreDeliveries(d time.Duration) {
	h.t.Helper()
	deadline := time.After(d)
	for {
		select {
		case ev := <-h.events.C:
			if ev.Kind == concierge.EventDelivery {
				h.t.Fatalf("unexpected further delivery %+v", *ev.Delivery)
			}
		case <-deadline:
			return
		}
	}
}

// conversation returns the contact's newest conversation and its messages.
func (h *harness) conversation(openID string) (concierge.Conversation, []concierge.Message) {
	h.t.Helper()
	ctx := context.Background()
	c, err := h.st.ContactByExternal(ctx, "wechat:main", openID)
	if err != nil {
		h.t.Fatalf("contact %s: %v", openID, err)
	}
	conv, err := h.st.LatestConversation(ctx, c.ID)
	if err != nil {
		h.t.Fatal(err)
	}
	msgs, err := h.st.Messages(ctx, conv.ID, 0, 1000, true)
	if err != nil {
		h.t.Fatal(err)
	}
	return conv, msgs
}

// waitStatus waits until the contact's newest conversation has the status.
func (h *harness) waitStatus(openID string, want concierge.Status) concierge.Conversation {
	h.t.Helper()
	deadline := time.After(10 * time.Second)
	for {
		conv, _ := h.conversation(openID)
		if conv.Status == want {
			return conv
		}
		select {
		case <-h.events.C:
		case <-deadline:
			h.t.Fatalf("conversation is %s, want %s", conv.Status, want)
		}
	}
}

// countRows counts rows of a table (nothing-stored assertions).
func (h *harness) countRows(table string) int {
	h.t.Helper()
	var n int
	ctx := context.Background()
	err := h.st.Write(ctx, func(ctx context.Context, tx *store.Tx) error {
		return tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM `+table).Scan(&n)
	})
	if err != nil {
		h.t.Fatal(err)
	}
	return n
}
