package wechat

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/conciergehq/concierge"
)

func TestURLVerificationEchoesOnlySignedFreshRequests(t *testing.T) {
	h := newHarness(t, harnessOpts{})
	get := func(ts int64, sig string) (int, string) {
		t.Helper()
		tss := strconv.FormatInt(ts, 10)
		if sig == "" {
			sig = Signature(testToken, tss, "nonce-1")
		}
		q := url.Values{"signature": {sig}, "timestamp": {tss}, "nonce": {"nonce-1"}, "echostr": {"echo-5551"}}
		resp, err := http.Get(h.srv.URL + "/wechat/main?" + q.Encode())
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	now := time.Now().Unix()
	if code, body := get(now, ""); code != 200 || body != "echo-5551" {
		t.Fatalf("verification: %d %q, want 200 and the echostr unchanged", code, body)
	}
	if code, body := get(now, Signature("wrong", strconv.FormatInt(now, 10), "nonce-1")); code != 401 || strings.Contains(body, "echo-5551") {
		t.Fatalf("wrong signature: %d %q, want 401 without the echostr", code, body)
	}
	if code, _ := get(now-301, ""); code != 401 {
		t.Fatalf("timestamp 301s old: %d, want 401", code)
	}
	if code, _ := get(now+400, ""); code != 401 {
		t.Fatalf("timestamp 400s ahead: %d, want 401", code)
	}
}

func TestATextIsAnsweredPassivelyInEveryMode(t *testing.T) {
	for _, mode := range []string{"plaintext", "compatible", "safe"} {
		t.Run(mode, func(t *testing.T) {
			h := newHarness(t, harnessOpts{mode: mode})
			code, reply := h.call(text("o_alice", "where is my order?", "1001"), callOpts{})
			if code != 200 || reply != "answer: where is my order?" {
				t.Fatalf("callback answered %d %q, want the bot's answer as the passive reply", code, reply)
			}
			d := h.waitDelivered(1)
			if d[0].State != "sent" {
				t.Fatalf("delivery %+v, want sent", d[0])
			}
			_, msgs := h.conversation("o_alice")
			if len(msgs) != 2 || msgs[0].Text != "where is my order?" || msgs[0].ExternalID != "1001" || msgs[1].Sender != concierge.SenderBot {
				t.Fatalf("transcript %+v, want the question (MsgId 1001) and the bot's answer", msgs)
			}
			if n := h.api.count("message/custom/send"); n != 0 {
				t.Fatalf("%d customer-service sends; the passive reply should have been the only one", n)
			}
			if n := h.api.tokensIssued(); n != 0 {
				t.Fatalf("%d access tokens fetched for a passive reply", n)
			}
		})
	}
}

func TestASlowAnswerGoesThroughTheCustomerServiceAPI(t *testing.T) {
	h := newHarness(t, harnessOpts{budget: 100 * time.Millisecond, typingDelay: -1})
	h.bot.hold = make(chan struct{})
	code, reply := h.call(text("o_bob", "explain my invoice", "2001"), callOpts{})
	if code != 200 || reply != "" {
		t.Fatalf("callback answered %d %q, want 200 success once the budget was spent", code, reply)
	}
	close(h.bot.hold)
	m := h.api.waitSent(t)
	if m.To != "o_bob" || m.Type != "text" || m.Text != "answer: explain my invoice" {
		t.Fatalf("sent %+v", m)
	}
	if d := h.waitDelivered(1); d[0].State != "sent" {
		t.Fatalf("delivery %+v", d[0])
	}
	h.api.mu.Lock()
	typing := append([]string(nil), h.api.typing...)
	h.api.mu.Unlock()
	if len(typing) != 1 || typing[0] != "o_bob:Typing" {
		t.Fatalf("typing calls %v, want one Typing for o_bob while the bot worked", typing)
	}
	if n := h.api.count("stable_token"); n != 1 {
		t.Fatalf("%d stable_token calls for typing and one send, want 1 (cached)", n)
	}
}

func TestWeChatsRetriesGiveOneMessageAndOneReply(t *testing.T) {
	t.Run("sequential", func(t *testing.T) {
		h := newHarness(t, harnessOpts{})
		m := text("o_carol", "reset my password", "3001")
		var replies []string
		for i := 0; i < 3; i++ {
			code, reply := h.call(m, callOpts{})
			if code != 200 {
				t.Fatalf("attempt %d: status %d", i+1, code)
			}
			if reply != "" {
				replies = append(replies, reply)
			}
		}
		h.waitDelivered(1)
		h.noMoreDeliveries(100 * time.Millisecond)
		_, msgs := h.conversation("o_carol")
		if n := h.api.count("message/custom/send"); n != 0 {
			t.Fatalf("%d customer-service sends besides the passive reply", n)
		}
		if len(replies) != 1 || len(msgs) != 2 || len(h.bot.seen()) != 1 {
			t.Fatalf("passive replies %q, transcript of %d, bot turns %d; want 1, 2 and 1", replies, len(msgs), len(h.bot.seen()))
		}
	})
	t.Run("concurrent", func(t *testing.T) {
		h := newHarness(t, harnessOpts{})
		m := text("o_dave", "reset my password", "3002")
		var wg sync.WaitGroup
		var mu sync.Mutex
		var passive []string
		for i := 0; i < 3; i++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				code, reply := h.call(m, callOpts{nonce: "same-nonce", timestamp: time.Now().Unix()})
				mu.Lock()
				defer mu.Unlock()
				if code != 200 {
					t.Errorf("status %d", code)
				}
				if reply != "" {
					passive = append(passive, reply)
				}
			}()
		}
		wg.Wait()
		h.waitDelivered(1)
		h.noMoreDeliveries(100 * time.Millisecond)
		sent := h.api.messages()
		_, msgs := h.conversation("o_dave")
		if len(passive)+len(sent) != 1 || len(msgs) != 2 || len(h.bot.seen()) != 1 {
			t.Fatalf("passive replies %q and API sends %+v (want one reply in all), transcript of %d (want 2), bot turns %d (want 1)",
				passive, sent, len(msgs), len(h.bot.seen()))
		}
	})
	t.Run("retry while the first still waits", func(t *testing.T) {
		// WeChat retries after 5s without an answer; the first request's connection is gone,
		// so its reply must go through the API, not to the dead request.
		h := newHarness(t, harnessOpts{budget: 4 * time.Second})
		h.bot.hold = make(chan struct{})
		h.bot.entered = make(chan struct{}, 1)
		m := text("o_erin", "slow question", "3003")
		first := make(chan string, 1)
		go func() {
			_, reply := h.call(m, callOpts{})
			first <- reply
		}()
		select {
		case <-h.bot.entered:
		case <-time.After(10 * time.Second):
			t.Fatal("the first delivery never reached the bot")
		}
		if code, reply := h.call(m, callOpts{}); code != 200 || reply != "" {
			t.Fatalf("retry answered %d %q, want success", code, reply)
		}
		if reply := <-first; reply != "" {
			t.Fatalf("the abandoned first request got the passive reply %q", reply)
		}
		close(h.bot.hold)
		if sent := h.api.waitSent(t); sent.Text != "answer: slow question" {
			t.Fatalf("sent %+v", sent)
		}
		h.api.noMoreSent(t, 100*time.Millisecond)
	})
}

func TestBadCallbacksAreRefusedAndNothingIsStored(t *testing.T) {
	h := newHarness(t, harnessOpts{mode: "safe"})
	good := text("o_mallory", "hello", "4001")
	other := msg{}
	for k, v := range good {
		other[k] = v
	}
	other["ToUserName"] = "gh_someoneelse"
	badPad := func() string {
		// A correctly signed ciphertext whose padding is wrong: built by hand.
		c, _ := NewCipher(testAESKey, testAppID)
		raw := mustDecode(t, c.Encrypt([]byte(xmlOf(good))))
		raw = raw[:len(raw)-16] // drop the last block: the pad byte is now message data
		return b64(raw)
	}()
	cases := []struct {
		name string
		m    msg
		o    callOpts
		want int
	}{
		{"wrong signature", good, callOpts{badSig: true}, 401},
		{"wrong msg_signature", good, callOpts{badMsgSig: true}, 401},
		{"stale timestamp", good, callOpts{timestamp: time.Now().Add(-10 * time.Minute).Unix()}, 401},
		{"plaintext in safe mode", good, callOpts{mode: "plaintext"}, 401},
		{"malformed inner XML", good, callOpts{rawBody: "<xml><ToUserName>gh_0123456789ab</ToUser"}, 400},
		{"not XML at all", good, callOpts{rawBody: `{"json": true}`}, 400},
		{"bad AES padding", good, callOpts{encrypted: badPad}, 400},
		{"not base64", good, callOpts{encrypted: "!!!not-base64!!!"}, 400},
		{"addressed to another account", other, callOpts{}, 403},
		{"oversized body", good, callOpts{rawBody: "<xml><Content>" + strings.Repeat("A", 70<<10) + "</Content></xml>"}, 413},
	}
	for _, tc := range cases {
		if code, body := h.call(tc.m, tc.o); code != tc.want {
			t.Errorf("%s: status %d %q, want %d", tc.name, code, body, tc.want)
		}
	}
	for _, table := range []string{"contacts", "messages", "dedupe"} {
		if n := h.countRows(table); n != 0 {
			t.Fatalf("%d rows in %s after refused callbacks, want none", n, table)
		}
	}
	// A nonce replayed within the window over a different body is a forgery (plaintext mode's gap).
	hp := newHarness(t, harnessOpts{mode: "plaintext"})
	ts := time.Now().Unix()
	if code, _ := hp.call(text("o_x", "first", "4101"), callOpts{nonce: "n-replay", timestamp: ts}); code != 200 {
		t.Fatalf("first use of a nonce refused: %d", code)
	}
	if code, _ := hp.call(text("o_x", "forged payload", "4102"), callOpts{nonce: "n-replay", timestamp: ts}); code != 401 {
		t.Fatalf("replayed signature over another body: %d, want 401", code)
	}
	hp.waitDelivered(1)
	if _, msgs := hp.conversation("o_x"); len(msgs) != 2 {
		t.Fatalf("transcript %+v: the forged message must not be stored", msgs)
	}
}

func TestUnknownAccountAndMethod(t *testing.T) {
	h := newHarness(t, harnessOpts{})
	req, _ := http.NewRequest(http.MethodPut, h.srv.URL+"/wechat/main", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusMethodNotAllowed {
		t.Fatalf("PUT: %d, want 405", resp.StatusCode)
	}
}

func TestTokensAreCachedAndRefreshedOnceWhenRejected(t *testing.T) {
	h := newHarness(t, harnessOpts{budget: 10 * time.Millisecond})
	ctx := context.Background()
	send := func(text string) error {
		return h.acct.api.sendText(ctx, "o_tok", text)
	}
	for i := 0; i < 3; i++ {
		if err := send(fmt.Sprint("m", i)); err != nil {
			t.Fatal(err)
		}
	}
	if n := h.api.count("stable_token"); n != 1 {
		t.Fatalf("%d token fetches for 3 sends, want 1", n)
	}
	h.api.expire() // 42001 for the cached token
	if err := send("after expiry"); err != nil {
		t.Fatalf("send after the token expired: %v (want refresh and retry)", err)
	}
	h.api.overwrite() // 40001 for the cached token
	if err := send("after overwrite"); err != nil {
		t.Fatalf("send after the token was overwritten: %v (want refresh and retry)", err)
	}
	if n := h.api.count("stable_token"); n != 3 {
		t.Fatalf("%d token fetches, want 3 (one per rejection)", n)
	}
	// A token WeChat keeps rejecting is retried once, not forever.
	h.api.fail("message/custom/send", 40001, 40001)
	before := h.api.count("message/custom/send")
	if err := send("never"); err == nil || !strings.Contains(err.Error(), "40001") {
		t.Fatalf("err = %v, want errcode 40001 after one retry", err)
	}
	if n := h.api.count("message/custom/send") - before; n != 2 {
		t.Fatalf("%d send attempts with a rejected token, want 2 (one refresh and retry)", n)
	}
	// Many senders find their token expired at once: exactly one of them refreshes it
	// (a second classic refresher would invalidate the first one's token).
	h.api.expire()
	gate := make(chan struct{})
	h.api.mu.Lock()
	h.api.tokenGate = gate
	h.api.mu.Unlock()
	fetches := h.api.count("stable_token")
	var wg sync.WaitGroup
	for i := 0; i < 8; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := send("burst"); err != nil {
				t.Error(err)
			}
		}()
	}
	<-h.api.tokenEntered // one refresher is fetching; the others queue behind it
	close(gate)
	wg.Wait()
	if n := h.api.count("stable_token") - fetches; n != 1 {
		t.Fatalf("%d token fetches for 8 senders with an expired token, want 1", n)
	}
}

func TestClassicTokensAreOptional(t *testing.T) {
	h := newHarness(t, harnessOpts{classic: true})
	if err := h.acct.api.sendText(context.Background(), "o_c", "hi"); err != nil {
		t.Fatal(err)
	}
	if h.api.count("token") != 1 || h.api.count("stable_token") != 0 {
		t.Fatalf("token %d, stable_token %d: want the classic endpoint once", h.api.count("token"), h.api.count("stable_token"))
	}
}

func TestReplyWindowClosedMarksTheContactUnreachableUntilItWritesAgain(t *testing.T) {
	h := newHarness(t, harnessOpts{budget: 10 * time.Millisecond})
	h.bot.hold = make(chan struct{})
	h.call(text("o_late", "hello", "5001"), callOpts{})
	h.api.fail("message/custom/send", 45015)
	close(h.bot.hold)
	d := h.waitDelivered(1)
	if d[0].State != "failed" || !strings.Contains(d[0].Error, "48-hour") {
		t.Fatalf("delivery %+v, want failed with the reason for agents", d[0])
	}
	c, _ := h.st.ContactByExternal(context.Background(), "wechat:main", "o_late")
	if !c.Unreachable {
		t.Fatal("contact not marked unreachable after 45015")
	}
	h.bot.mu.Lock()
	h.bot.hold = nil
	h.bot.mu.Unlock()
	_, reply := h.call(text("o_late", "still there?", "5002"), callOpts{})
	if reply == "" { // the 10ms budget may run out on a busy machine
		reply = h.api.waitSent(t).Text
	}
	if reply != "answer: still there?" {
		t.Fatalf("reply %q", reply)
	}
	c, _ = h.st.ContactByExternal(context.Background(), "wechat:main", "o_late")
	if c.Unreachable {
		t.Fatal("contact still unreachable after writing again")
	}
	// 45047 (count limit) is the same kind of refusal; -1 (busy) is retried.
	for code, unreachable := range map[int]bool{45047: true, -1: false} {
		if err := classify(&APIError{Op: "message/custom/send", Code: code}); errors.Is(err, concierge.ErrUnreachable) != unreachable {
			t.Errorf("errcode %d: unreachable = %v, want %v", code, !unreachable, unreachable)
		}
	}
}

func TestPicturesAreKeptForAgents(t *testing.T) {
	h := newHarness(t, harnessOpts{})
	jpeg := []byte("\xff\xd8\xff\xe0 fake jpeg bytes")
	h.api.mu.Lock()
	h.api.media["MEDIA_OK"] = jpeg
	h.api.mu.Unlock()
	pic := msg{"ToUserName": testOrigID, "FromUserName": "o_pic", "CreateTime": strconv.FormatInt(time.Now().Unix(), 10),
		"MsgType": "image", "PicUrl": "https://mmbiz.example/pic1", "MediaId": "MEDIA_OK", "MsgId": "6001"}
	if _, reply := h.call(pic, callOpts{}); reply != "got a image" {
		t.Fatalf("reply %q", reply)
	}
	_, msgs := h.conversation("o_pic")
	att := msgs[0].Attachments
	if len(att) != 1 || att[0].Kind != "image" || att[0].Ref != "MEDIA_OK" || !strings.HasPrefix(att[0].URL, "/attachments/") {
		t.Fatalf("attachment %+v, want the picture kept on our server", att)
	}
	f, meta, err := h.files.Open(strings.TrimPrefix(att[0].URL, "/attachments/"))
	if err != nil {
		t.Fatal(err)
	}
	got, _ := io.ReadAll(f)
	f.Close()
	if string(got) != string(jpeg) || meta.MIME != "image/jpeg" {
		t.Fatalf("kept %q (%s), want the downloaded picture", got, meta.MIME)
	}
	// When the download fails, WeChat's own link is kept.
	pic["MediaId"], pic["MsgId"] = "MEDIA_GONE", "6002"
	h.call(pic, callOpts{})
	_, msgs = h.conversation("o_pic")
	if att := msgs[2].Attachments; len(att) != 1 || att[0].URL != "https://mmbiz.example/pic1" || att[0].Ref != "MEDIA_GONE" {
		t.Fatalf("attachment %+v, want PicUrl kept when the download fails", att)
	}
}

func TestVoiceLocationAndLinkMessages(t *testing.T) {
	h := newHarness(t, harnessOpts{})
	now := strconv.FormatInt(time.Now().Unix(), 10)
	base := func(typ, id string) msg {
		return msg{"ToUserName": testOrigID, "FromUserName": "o_v", "CreateTime": now, "MsgType": typ, "MsgId": id}
	}
	voice := base("voice", "7001")
	voice["MediaId"], voice["Format"], voice["Recognition"] = "VOICE_GONE", "amr", "我的订单在哪里"
	if _, reply := h.call(voice, callOpts{}); reply != "answer: 我的订单在哪里" {
		t.Fatalf("voice with recognition answered %q, want the transcript answered", reply)
	}
	loc := base("location", "7002")
	loc["Location_X"], loc["Location_Y"], loc["Scale"], loc["Label"] = "23.134521", "113.358803", "20", "Guangzhou Tower"
	h.call(loc, callOpts{})
	link := base("link", "7003")
	link["Title"], link["Description"], link["Url"] = "Order page", "my order", "https://shop.example/o/1"
	h.call(link, callOpts{})
	_, msgs := h.conversation("o_v")
	if len(msgs) != 6 {
		t.Fatalf("transcript of %d, want 3 questions and 3 answers", len(msgs))
	}
	v, l, k := msgs[0].Attachments[0], msgs[2].Attachments[0], msgs[4].Attachments[0]
	if v.Kind != "voice" || v.Ref != "VOICE_GONE" || v.Text != "我的订单在哪里" {
		t.Errorf("voice attachment %+v", v)
	}
	if l.Kind != "location" || l.URL != "geo:23.134521,113.358803" || l.Text != "Guangzhou Tower" {
		t.Errorf("location attachment %+v", l)
	}
	if k.Kind != "link" || k.URL != "https://shop.example/o/1" || k.Name != "Order page" {
		t.Errorf("link attachment %+v", k)
	}
}

func TestFollowMenuAndUnfollowEvents(t *testing.T) {
	h := newHarness(t, harnessOpts{menu: map[string]Click{"TALK_TO_HUMAN": {Action: concierge.ActionHuman},
		"FAQ_REFUND": {Text: "How do I get a refund?"}}})
	now := time.Now().Unix()
	event := func(ev, key string, at int64) msg {
		m := msg{"ToUserName": testOrigID, "FromUserName": "o_ev", "CreateTime": strconv.FormatInt(at, 10),
			"MsgType": "event", "Event": ev}
		if key != "" {
			m["EventKey"] = key
		}
		return m
	}
	sub := event("subscribe", "qrscene_campaign42", now)
	if _, reply := h.call(sub, callOpts{}); reply != "Welcome! Ask me anything." {
		t.Fatalf("follow answered %q, want the bot's welcome", reply)
	}
	if _, reply := h.call(sub, callOpts{}); reply != "" {
		t.Fatalf("a retried follow answered %q, want success and nothing more", reply)
	}
	conv, msgs := h.conversation("o_ev")
	if conv.Meta["qr_scene"] != "campaign42" || len(msgs) != 2 || msgs[0].Action() != concierge.ActionStart {
		t.Fatalf("meta %v, transcript %+v: want the QR scene kept and one start message", conv.Meta, msgs)
	}
	if _, reply := h.call(event("CLICK", "FAQ_REFUND", now+1), callOpts{}); reply != "answer: How do I get a refund?" {
		t.Fatalf("menu question answered %q", reply)
	}
	if code, reply := h.call(event("CLICK", "NOT_MAPPED", now+2), callOpts{}); code != 200 || reply != "" {
		t.Fatalf("unmapped menu key: %d %q, want success", code, reply)
	}
	if _, reply := h.call(event("CLICK", "TALK_TO_HUMAN", now+3), callOpts{}); reply != "Connecting you to a person." {
		t.Fatalf("talk-to-a-person answered %q", reply)
	}
	h.waitStatus("o_ev", concierge.StatusQueued)
	_, msgs = h.conversation("o_ev")
	if len(msgs) != 6 || msgs[4].Action() != concierge.ActionHuman {
		t.Fatalf("transcript %+v, want follow, question, person request and their answers", msgs)
	}
	// Unfollow: unreachable, and the agents are told once, however often WeChat retries.
	unsub := event("unsubscribe", "", now+4)
	for i := 0; i < 3; i++ {
		if code, reply := h.call(unsub, callOpts{}); code != 200 || reply != "" {
			t.Fatalf("unfollow: %d %q", code, reply)
		}
	}
	c, _ := h.st.ContactByExternal(context.Background(), "wechat:main", "o_ev")
	if !c.Unreachable {
		t.Fatal("contact reachable after unfollowing")
	}
	_, msgs = h.conversation("o_ev")
	notes := 0
	for _, m := range msgs {
		if m.Internal && strings.Contains(m.Text, "unfollowed") {
			notes++
		}
	}
	if notes != 1 {
		t.Fatalf("%d unfollow notes for agents, want 1", notes)
	}
}

func TestSecretsStayOutOfErrorsAndLogs(t *testing.T) {
	// Classic tokens put the app secret in the URL; a transport error must not repeat it.
	h := newHarness(t, harnessOpts{classic: true, noAPI: true})
	err := h.acct.api.sendText(context.Background(), "o_s", "hi")
	if err == nil || strings.Contains(err.Error(), testSecret) || strings.Contains(err.Error(), "secret=") {
		t.Fatalf("err = %v: want a failure that does not carry the secret", err)
	}
	// Every API call carries the access token in its URL; a dropped connection must not show it.
	h2 := newHarness(t, harnessOpts{})
	h2.api.fail("message/custom/send", dropConnection)
	err = h2.acct.api.sendText(context.Background(), "o_s", "hi")
	if err == nil || strings.Contains(err.Error(), "tok-") || strings.Contains(err.Error(), "access_token") {
		t.Fatalf("err = %v: want a failure that does not carry the access token", err)
	}
	// The harness's cleanup checks every log line of both for the secret, the AES key and tokens.
}

func TestAReplyHandedOverAsTheCallbackStopsWaitingIsNotLost(t *testing.T) {
	h := newHarness(t, harnessOpts{mode: "plaintext"})
	a := h.acct
	m := &callback{ToUserName: testOrigID, FromUserName: "o_race", MsgType: "text"}
	// Deliver takes the callback just before it gives up waiting: the reply is written.
	p := a.begin("k1", "o_race")
	a.enqueue(p)
	offered := make(chan bool)
	go func() { offered <- a.offerPassive("o_race", "agent reply") }()
	for !takenState(a, p) { // until Deliver has taken it
		runtime.Gosched()
	}
	rec := httptest.NewRecorder()
	a.finish(rec, p, m, false)
	a.end(p)
	if !<-offered || !strings.Contains(rec.Body.String(), "agent reply") {
		t.Fatalf("callback answered %q: want the handed-over reply written, and Deliver told so", rec.Body.String())
	}
	// A callback with nothing handed over answers success, and Deliver then finds no one.
	p = a.begin("k2", "o_race")
	a.enqueue(p)
	rec = httptest.NewRecorder()
	a.finish(rec, p, m, false)
	a.end(p)
	if rec.Body.String() != "success" || a.offerPassive("o_race", "late") {
		t.Fatalf("callback answered %q; a later reply must go through the API", rec.Body.String())
	}
}

func takenState(a *Account, p *pending) bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	return p.state == taken
}

func TestTokenIsRefreshedBeforeItExpires(t *testing.T) {
	api := newFakeAPI(t, testAppID, testSecret)
	now := time.Unix(1_700_000_000, 0)
	var mu sync.Mutex
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	advance := func(d time.Duration) { mu.Lock(); now = now.Add(d); mu.Unlock() }
	for _, classic := range []bool{false, true} {
		c := &apiClient{base: api.srv.URL, appID: testAppID, secret: testSecret, classic: classic, hc: http.DefaultClient, now: clock}
		op, margin := "stable_token", 5*time.Minute
		if classic {
			op, margin = "token", 25*time.Minute
		}
		before := api.count(op)
		if _, err := c.accessToken(context.Background()); err != nil {
			t.Fatal(err)
		}
		advance(2*time.Hour - margin - time.Second) // expires_in is 7200s
		c.accessToken(context.Background())
		if n := api.count(op) - before; n != 1 {
			t.Fatalf("%s: %d fetches while the token is fresh, want 1", op, n)
		}
		advance(2 * time.Second) // within the margin before expiry
		c.accessToken(context.Background())
		if n := api.count(op) - before; n != 2 {
			t.Fatalf("%s: %d fetches, want a refresh %s before expiry", op, n, margin)
		}
	}
}
