package main

import (
	"encoding/json"
	"encoding/xml"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/conciergehq/concierge/channels/telegram/telegramtest"
	"github.com/conciergehq/concierge/channels/wechat"
)

// pooled makes the general team claim from the queue, so a signed-in agent is not
// handed the conversation before the test claims it.
const pooled = "handoff:\n  teams:\n    - name: general\n      assignment: pooled\n"

func writeConfig(t *testing.T, dir, body string) string {
	t.Helper()
	p := filepath.Join(dir, "concierge.yaml")
	if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// tgButtons is what a sendMessage to the chat offered: label → callback data.
func tgButtons(t *testing.T, c telegramtest.Call) map[string]string {
	out := map[string]string{}
	if c.Params.Get("reply_markup") == "" {
		return out
	}
	kb := telegramtest.Keyboard(t, c)
	if kb == nil {
		return out
	}
	for _, row := range kb.InlineKeyboard {
		for _, b := range row {
			if b.CallbackData != nil {
				out[b.Text] = *b.CallbackData
			}
		}
	}
	return out
}

// tgSent waits for a message to the chat whose text matches re, after the first skip
// messages, and returns it with its position.
func tgSent(t *testing.T, fake *telegramtest.Server, chat string, skip int, re *regexp.Regexp) (telegramtest.Call, int) {
	t.Helper()
	var found telegramtest.Call
	at := -1
	fake.WaitUntil(t, "a message matching "+re.String(), func() bool {
		n := 0
		for _, c := range fake.Calls("sendMessage") {
			if c.Params.Get("chat_id") != chat {
				continue
			}
			n++
			if n > skip && re.MatchString(c.Params.Get("text")) {
				found, at = c, n
				return true
			}
		}
		return false
	})
	return found, at
}

// The full flow on Telegram, through the shipped wiring and the real Bot API
// client against a fake Bot API server: the customer asks, the bot answers with "Did
// this help?" buttons, the customer taps No until the bot escalates, an agent replies
// through the panel's API, the customer gets it in Telegram with the agent's name, the
// agent closes, the customer rates through the inline keyboard and the panel shows it.
func TestEndToEndTelegramFromQuestionToRating(t *testing.T) {
	fake := telegramtest.New(t)
	dir := t.TempDir()
	addAgent(t, dir, "ana@example.com", "Ana", "agent", "ana's long password")
	t.Setenv("CONCIERGE_TELEGRAM_SUPPORT_TOKEN", telegramtest.Token)
	cfg := writeConfig(t, dir, pooled+"telegram:\n  - name: support\n    api_url: "+fake.URL+"\n")
	base, stop := startServeIn(t, dir, "--config", cfg)
	defer stop()
	const chat = "42"

	fake.Push(telegramtest.Text(1, 42, "Ada", "How do I reset my password?"))
	answer, seen := tgSent(t, fake, chat, 0, regexp.MustCompile(`(?i)password`))
	buttons := tgButtons(t, answer)
	if len(buttons) == 0 {
		// "Did this help?" may come as its own message right after the answer.
		var help telegramtest.Call
		help, seen = tgSent(t, fake, chat, seen, regexp.MustCompile(`.`))
		buttons = tgButtons(t, help)
	}
	agent := signIn(t, base, "ana@example.com", "ana's long password")

	// Tap "No" (and "None of these" if the bot offers other articles) until it escalates.
	escalated := false
	for tap := 0; tap < 4 && !escalated; tap++ {
		no := ""
		for label, data := range buttons {
			if regexp.MustCompile(`(?i)^(no|none)`).MatchString(label) {
				no = data
				fake.Push(telegramtest.Callback(fmt.Sprintf("q%d", tap), 100+tap, 42, "Ada", label, data))
				break
			}
		}
		if no == "" {
			t.Fatalf("no No/None button among %v", buttons)
		}
		fake.WaitUntil(t, "the tap answered", func() bool { return len(fake.Calls("answerCallbackQuery")) > tap })
		next, at := tgSent(t, fake, chat, seen, regexp.MustCompile(`.`))
		seen = at
		escalated = regexp.MustCompile(`(?i)person|queue|agent`).MatchString(next.Params.Get("text"))
		buttons = tgButtons(t, next)
	}
	id := agent.queuedConversation()

	agent.must("POST", fmt.Sprintf("conversations/%d/claim", id), map[string]any{}, nil)
	agent.must("POST", fmt.Sprintf("conversations/%d/messages", id), map[string]any{"text": "Hi Ada, I reset the link for you."}, nil)
	got, _ := tgSent(t, fake, chat, 0, regexp.MustCompile(`I reset the link for you`))
	if !strings.Contains(got.Params.Get("text"), "Ana") {
		t.Fatalf("agent reply reached Telegram as %q, want it signed with the agent's name", got.Params.Get("text"))
	}

	agent.must("POST", fmt.Sprintf("conversations/%d/close", id), map[string]any{"resolution": "resolved"}, nil)
	var survey telegramtest.Call
	fake.WaitUntil(t, "the satisfaction survey as an inline keyboard", func() bool {
		for _, c := range fake.Calls("sendMessage") {
			if c.Params.Get("chat_id") == chat && len(tgButtons(t, c)) == 5 {
				survey = c
				return true
			}
		}
		return false
	})
	five := ""
	for label, data := range tgButtons(t, survey) {
		if strings.Contains(label, "5") {
			five = data
			fake.Push(telegramtest.Callback("rate", 200, 42, "Ada", label, data))
		}
	}
	if five == "" {
		t.Fatalf("survey buttons %v have no 5", tgButtons(t, survey))
	}
	if r := agent.rating(id); r != 5 {
		t.Fatalf("the panel shows rating %d, want 5", r)
	}
}

// fakeWeChat is WeChat's API as the customer-service sender uses it: a stable access
// token and message/custom/send, recording what the customer would receive.
type fakeWeChat struct {
	*httptest.Server
	mu   sync.Mutex
	sent []string
}

func newFakeWeChat(t *testing.T) *fakeWeChat {
	f := &fakeWeChat{}
	f.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		switch r.URL.Path {
		case "/cgi-bin/stable_token":
			fmt.Fprint(w, `{"access_token":"ACCESS","expires_in":7200}`)
		case "/cgi-bin/message/custom/send":
			var m struct {
				Text struct {
					Content string `json:"content"`
				} `json:"text"`
			}
			json.NewDecoder(r.Body).Decode(&m)
			f.mu.Lock()
			f.sent = append(f.sent, m.Text.Content)
			f.mu.Unlock()
			fmt.Fprint(w, `{"errcode":0,"errmsg":"ok"}`)
		default: // typing and the rest
			fmt.Fprint(w, `{"errcode":0,"errmsg":"ok"}`)
		}
	}))
	t.Cleanup(f.Close)
	return f
}

// wxCustomer is a WeChat user writing to the Official Account in safe mode: every
// callback is signed and encrypted as WeChat does, and passive replies are decrypted.
type wxCustomer struct {
	t      *testing.T
	url    string
	token  string
	cipher *wechat.Cipher
	msgID  int
	fake   *fakeWeChat
	// got is everything the customer received, passive replies and API messages, in order.
	got []string
}

func (c *wxCustomer) say(text string) {
	c.t.Helper()
	c.msgID++
	ts := strconv.FormatInt(time.Now().Unix(), 10)
	nonce := fmt.Sprintf("n%d", c.msgID)
	inner := fmt.Sprintf(`<xml><ToUserName><![CDATA[gh_0123456789ab]]></ToUserName><FromUserName><![CDATA[o_ada]]></FromUserName>`+
		`<CreateTime>%s</CreateTime><MsgType><![CDATA[text]]></MsgType><Content><![CDATA[%s]]></Content><MsgId>%d</MsgId></xml>`, ts, text, 7000+c.msgID)
	enc := c.cipher.Encrypt([]byte(inner))
	q := url.Values{"timestamp": {ts}, "nonce": {nonce}, "signature": {wechat.Signature(c.token, ts, nonce)},
		"encrypt_type": {"aes"}, "msg_signature": {wechat.Signature(c.token, ts, nonce, enc)}, "openid": {"o_ada"}}
	body := `<xml><ToUserName><![CDATA[gh_0123456789ab]]></ToUserName><Encrypt><![CDATA[` + enc + `]]></Encrypt></xml>`
	resp, err := http.Post(c.url+"?"+q.Encode(), "text/xml", strings.NewReader(body))
	if err != nil {
		c.t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 {
		c.t.Fatalf("callback %q: %d %s", text, resp.StatusCode, raw)
	}
	if s := string(raw); s == "" || s == "success" {
		return
	}
	var env struct {
		Encrypt string `xml:"Encrypt"`
	}
	if err := xml.Unmarshal(raw, &env); err != nil {
		c.t.Fatalf("passive reply %s: %v", raw, err)
	}
	plain, err := c.cipher.Decrypt(env.Encrypt)
	if err != nil {
		c.t.Fatalf("passive reply does not decrypt: %v", err)
	}
	var reply struct {
		Content string `xml:"Content"`
	}
	xml.Unmarshal(plain, &reply)
	c.got = append(c.got, reply.Content)
}

// await waits until something the customer received matches re and returns it; later
// calls only look at what arrived after the last match.
func (c *wxCustomer) await(re *regexp.Regexp) string {
	c.t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		c.fake.mu.Lock()
		all := append(append([]string{}, c.got...), c.fake.sent...)
		c.fake.mu.Unlock()
		for _, m := range all {
			if re.MatchString(m) {
				return m
			}
		}
		if time.Now().After(deadline) {
			c.t.Fatalf("the customer never received a message matching %s; got %q", re, all)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// forget drops what the customer received so far.
func (c *wxCustomer) forget() {
	c.fake.mu.Lock()
	c.got, c.fake.sent = nil, nil
	c.fake.mu.Unlock()
}

// option finds the number of a numbered choice ("2. No") in a message.
func option(m string, label *regexp.Regexp) string {
	for _, line := range strings.Split(m, "\n") {
		if g := regexp.MustCompile(`^\s*(\d+)[.、)]\s*(.+)$`).FindStringSubmatch(line); g != nil && label.MatchString(g[2]) {
			return g[1]
		}
	}
	return ""
}

// The full flow on WeChat (safe mode), through the shipped wiring: the customer
// asks and gets the answer as a passive reply, answers the numbered "Did this help?"
// with the number for No until the bot escalates, an agent replies through the panel's
// API and the customer-service API delivers it with the agent's name, the agent closes,
// the customer rates by sending a digit and the panel shows the rating.
func TestEndToEndWeChatFromQuestionToRating(t *testing.T) {
	fake := newFakeWeChat(t)
	dir := t.TempDir()
	addAgent(t, dir, "ana@example.com", "Ana", "agent", "ana's long password")
	const aesKey = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"
	cfg := writeConfig(t, dir, pooled+`wechat:
  - name: main
    original_id: gh_0123456789ab
    app_id: wx0123456789abcdef
    app_secret: app-secret
    token: wx-token
    encoding_aes_key: `+aesKey+`
    mode: safe
    api_url: `+fake.URL+"\n")
	base, stop := startServeIn(t, dir, "--config", cfg)
	defer stop()
	cipher, err := wechat.NewCipher(aesKey, "wx0123456789abcdef")
	if err != nil {
		t.Fatal(err)
	}
	ada := &wxCustomer{t: t, url: base + "/wechat/main", token: "wx-token", cipher: cipher, fake: fake}

	ada.say("How do I reset my password?")
	ada.await(regexp.MustCompile(`(?i)password`))
	agent := signIn(t, base, "ana@example.com", "ana's long password")
	noOrNone := regexp.MustCompile(`(?i)^(no|none)`)
	for tap := 0; tap < 4; tap++ {
		offer := ada.await(regexp.MustCompile(`(?m)^\s*\d+[.、)]\s*(?i:no|none)`))
		ada.forget() // later awaits see only what comes next
		ada.say(option(offer, noOrNone))
		if m := ada.await(regexp.MustCompile(`.`)); regexp.MustCompile(`(?i)person|queue`).MatchString(m) {
			break
		}
	}
	id := agent.queuedConversation()

	agent.must("POST", fmt.Sprintf("conversations/%d/claim", id), map[string]any{}, nil)
	agent.must("POST", fmt.Sprintf("conversations/%d/messages", id), map[string]any{"text": "Hi Ada, I reset the link for you."}, nil)
	if m := ada.await(regexp.MustCompile(`I reset the link for you`)); !strings.Contains(m, "Ana") {
		t.Fatalf("agent reply reached WeChat as %q, want it signed with the agent's name", m)
	}
	agent.must("POST", fmt.Sprintf("conversations/%d/close", id), map[string]any{"resolution": "resolved"}, nil)
	survey := ada.await(regexp.MustCompile(`(?m)^\s*5[.、)]`))
	if option(survey, regexp.MustCompile(`5|★★★★★`)) == "" {
		t.Fatalf("survey %q has no option for 5", survey)
	}
	ada.say("5")
	if r := agent.rating(id); r != 5 {
		t.Fatalf("the panel shows rating %d, want 5", r)
	}
}
