package wechat

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"
)

// kfCallback posts WeCom's "messages are waiting" event, encrypted for the CorpID.
func (h *harness) kfCallback(openKfID, token string) int {
	h.t.Helper()
	inner := fmt.Sprintf(`<xml><ToUserName><![CDATA[%s]]></ToUserName><CreateTime>%d</CreateTime>`+
		`<MsgType><![CDATA[event]]></MsgType><Event><![CDATA[kf_msg_or_event]]></Event>`+
		`<Token><![CDATA[%s]]></Token><OpenKfId><![CDATA[%s]]></OpenKfId></xml>`, testCorpID, time.Now().Unix(), token, openKfID)
	enc := testEncryptWith(h.t, testKfAESKey, []byte(inner), testCorpID)
	ts, nonce := strconv.FormatInt(time.Now().Unix(), 10), "kfn"+strconv.FormatInt(h.nonce.Add(1), 10)
	q := url.Values{"msg_signature": {Signature(testKfToken, ts, nonce, enc)}, "timestamp": {ts}, "nonce": {nonce}}
	body := `<xml><ToUserName><![CDATA[` + testCorpID + `]]></ToUserName><AgentID><![CDATA[1000002]]></AgentID><Encrypt><![CDATA[` + enc + `]]></Encrypt></xml>`
	resp, err := http.Post(h.srv.URL+"/wechat/main/kf?"+q.Encode(), "text/xml", strings.NewReader(body))
	if err != nil {
		h.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode == 200 && string(b) != "success" {
		h.t.Fatalf("customer-service callback answered %q, want success", b)
	}
	return resp.StatusCode
}

func kfText(id, user, content string, at time.Time) map[string]any {
	return map[string]any{"msgid": id, "open_kfid": "wk_support", "external_userid": user, "send_time": at.Unix(),
		"origin": 3, "msgtype": "text", "text": map[string]any{"content": content}}
}

func TestKfCallbackURLIsVerifiedWithTheDecryptedEchostr(t *testing.T) {
	h := newHarness(t, harnessOpts{kf: true})
	get := func(echo, sig string) (int, string) {
		ts := strconv.FormatInt(time.Now().Unix(), 10)
		if sig == "" {
			sig = Signature(testKfToken, ts, "n", echo)
		}
		q := url.Values{"msg_signature": {sig}, "timestamp": {ts}, "nonce": {"n"}, "echostr": {echo}}
		resp, err := http.Get(h.srv.URL + "/wechat/main/kf?" + q.Encode())
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	echo := testEncryptWith(t, testKfAESKey, []byte("5927782489442352469"), testCorpID)
	if code, body := get(echo, ""); code != 200 || body != "5927782489442352469" {
		t.Fatalf("verification: %d %q, want the decrypted echostr", code, body)
	}
	if code, _ := get(echo, Signature("wrong", "1", "n", echo)); code != 401 {
		t.Fatalf("wrong msg_signature: %d, want 401", code)
	}
	other := testEncryptWith(t, testKfAESKey, []byte("123"), "wwanothercorp")
	if code, _ := get(other, ""); code != 400 {
		t.Fatalf("echostr for another CorpID: %d, want 400", code)
	}
}

func TestKfMessagesArePulledAnsweredAndNeverRepeated(t *testing.T) {
	h := newHarness(t, harnessOpts{kf: true})
	now := time.Now()
	h.kfAPI.addKf(
		map[string]any{"msgid": "ev1", "send_time": now.Unix(), "origin": 4, "msgtype": "event",
			"event": map[string]any{"event_type": "enter_session", "open_kfid": "wk_support", "external_userid": "wm_amy",
				"scene": "web", "scene_param": "pricing-page", "welcome_code": "WELCOME1"}},
		map[string]any{"msgid": "agent1", "open_kfid": "wk_support", "external_userid": "wm_amy", "send_time": now.Unix(),
			"origin": 5, "msgtype": "text", "text": map[string]any{"content": "sent from the WeCom app"}},
		kfText("m1", "wm_amy", "where is my order?", now),
	)
	if code := h.kfCallback("wk_support", "SYNC_TOKEN_1"); code != 200 {
		t.Fatalf("callback: %d", code)
	}
	welcome := h.kfAPI.waitSent(t)
	if welcome.Op != "kf/send_msg_on_event" || welcome.Code != "WELCOME1" || welcome.Text != "Welcome! Ask me anything." {
		t.Fatalf("welcome sent as %+v, want send_msg_on_event with the welcome code", welcome)
	}
	answer := h.kfAPI.waitSent(t)
	if answer.Op != "kf/send_msg" || answer.To != "wm_amy" || answer.OpenKfID != "wk_support" ||
		answer.Text != "answer: where is my order?" || answer.MsgID == "" || answer.MsgID == welcome.MsgID {
		t.Fatalf("answer sent as %+v", answer)
	}
	conv, msgs := h.conversation("wm_amy")
	if len(msgs) != 4 || conv.Meta["kf_scene"] != "pricing-page" {
		t.Fatalf("transcript %+v meta %v: want entering, question and two answers, not our agent's own message", msgs, conv.Meta)
	}
	h.kfAPI.mu.Lock()
	tokens := append([]string(nil), h.kfAPI.kfSyncToken...)
	h.kfAPI.mu.Unlock()
	if len(tokens) != 2 || tokens[0] != "SYNC_TOKEN_1" {
		t.Fatalf("sync_msg tokens %q: want two pages pulled with the callback's token", tokens)
	}
	if c, err := h.st.ChannelState(context.Background(), "wechat:main", "kf_cursor:wk_support"); err != nil || c != "3" {
		t.Fatalf("cursor %q (%v), want 3 persisted", c, err)
	}
	// Another notification with nothing new sends nothing; a new message gets one answer.
	h.kfCallback("wk_support", "SYNC_TOKEN_2")
	h.kfAPI.addKf(kfText("m2", "wm_amy", "thanks", now))
	h.kfCallback("wk_support", "SYNC_TOKEN_3")
	if m := h.kfAPI.waitSent(t); m.Text != "answer: thanks" {
		t.Fatalf("sent %+v", m)
	}
	h.kfAPI.noMoreSent(t, 100*time.Millisecond)
	if _, msgs := h.conversation("wm_amy"); len(msgs) != 6 {
		t.Fatalf("transcript of %d, want 6", len(msgs))
	}
}

func TestKfChoicesAreAClickableMenu(t *testing.T) {
	h := newHarness(t, harnessOpts{kf: true})
	h.kfAPI.addKf(kfText("c1", "wm_bo", "choices", time.Now()))
	h.kfCallback("wk_support", "T")
	menu := h.kfAPI.waitSent(t)
	if menu.Type != "msgmenu" || menu.Text != "Did this help?" || strings.Join(menu.Menu, ",") != "helped:yes,helped:no" {
		t.Fatalf("choices sent as %+v, want a msgmenu with the payloads as click ids", menu)
	}
	click := kfText("c2", "wm_bo", "No", time.Now())
	click["text"] = map[string]any{"content": "No", "menu_id": "helped:no"}
	h.kfAPI.addKf(click)
	h.kfCallback("wk_support", "T")
	if m := h.kfAPI.waitSent(t); m.Text != "picked helped:no" {
		t.Fatalf("menu click answered %+v", m)
	}
}

func TestKfCatchesUpFromTheStoredCursorAtStartAndSkipsOldHistory(t *testing.T) {
	h := newHarness(t, harnessOpts{kf: true, beforeRun: func(h *harness) {
		// A previous run pulled this customer-service account up to cursor 1; one more
		// message arrived while we were stopped (its callback found nobody).
		ctx := context.Background()
		h.st.SetChannelState(ctx, "wechat:main", "kf_accounts", `["wk_support"]`)
		h.st.SetChannelState(ctx, "wechat:main", "kf_cursor:wk_support", "1")
		h.kfAPI.addKf(kfText("old", "wm_cy", "answered by the previous run", time.Now()),
			kfText("new", "wm_cy", "arrived while we were stopped", time.Now()))
	}})
	if m := h.kfAPI.waitSent(t); m.Text != "answer: arrived while we were stopped" {
		t.Fatalf("sent %+v, want only the message after the stored cursor, without waiting for a callback", m)
	}
	h.kfAPI.noMoreSent(t, 100*time.Millisecond)

	// A first pull (no cursor) does not answer days-old history.
	h2 := newHarness(t, harnessOpts{kf: true})
	week := time.Now().Add(-72 * time.Hour)
	h2.kfAPI.addKf(kfText("h1", "wm_dee", "from last week", week), kfText("h2", "wm_dee", "also old", week),
		kfText("h3", "wm_dee", "old, on the second page", week), kfText("h4", "wm_dee", "just now", time.Now()))
	h2.kfCallback("wk_support", "T")
	if m := h2.kfAPI.waitSent(t); m.Text != "answer: just now" {
		t.Fatalf("sent %+v, want only the recent message answered", m)
	}
	h2.kfAPI.noMoreSent(t, 100*time.Millisecond)
}

func TestKfCallbacksAreAuthenticated(t *testing.T) {
	h := newHarness(t, harnessOpts{kf: true})
	enc := testEncryptWith(t, testKfAESKey, []byte("<xml><ToUserName>"+testCorpID+"</ToUserName><Event>kf_msg_or_event</Event><OpenKfId>wk</OpenKfId></xml>"), testCorpID)
	ts := strconv.FormatInt(time.Now().Unix(), 10)
	post := func(sig, ts string) int {
		q := url.Values{"msg_signature": {sig}, "timestamp": {ts}, "nonce": {"n"}}
		resp, err := http.Post(h.srv.URL+"/wechat/main/kf?"+q.Encode(), "text/xml",
			strings.NewReader("<xml><Encrypt><![CDATA["+enc+"]]></Encrypt></xml>"))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if code := post(Signature(testKfToken, ts, "n", enc+"x"), ts); code != 401 {
		t.Fatalf("wrong msg_signature: %d, want 401", code)
	}
	old := strconv.FormatInt(time.Now().Add(-time.Hour).Unix(), 10)
	if code := post(Signature(testKfToken, old, "n", enc), old); code != 401 {
		t.Fatalf("stale timestamp: %d, want 401", code)
	}
	if code := post(Signature(testKfToken, ts, "n", enc), ts); code != 200 {
		t.Fatalf("good callback: %d", code)
	}
	if n := h.countRows("messages"); n != 0 {
		t.Fatalf("%d messages stored", n)
	}
}
