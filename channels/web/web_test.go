package web

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/conciergehq/concierge"
)

func TestFirstMessageIsStoredAckedAndAnswered(t *testing.T) {
	s := newTestServer(t, nil)
	c, w := s.connect(t, nil)
	if !strings.HasPrefix(w.Token, tokenPrefix) || w.ConversationID != 0 || w.MaxText != 4096 {
		t.Fatalf("welcome %+v: want a new token, no conversation yet, max_text 4096", w)
	}
	c.say("m1", "hello")
	got := c.until(both())
	var ack, own, bot *frame
	for i := range got {
		switch {
		case got[i].Type == "ack":
			ack = &got[i]
		case got[i].Type == "message" && got[i].Sender == "user":
			own = &got[i]
		case got[i].Type == "message" && got[i].Sender == "bot":
			bot = &got[i]
		}
	}
	if ack == nil || ack.ID != "m1" || ack.Seq != 1 || ack.ConversationID == 0 {
		t.Fatalf("ack %+v in %+v: want id m1 at seq 1 of a new conversation", ack, got)
	}
	if own == nil || own.ClientID != "m1" || own.Seq != 1 || own.Text != "hello" {
		t.Fatalf("own message %+v: want it echoed with its client id at seq 1", own)
	}
	if bot.Seq != 2 || bot.Text != "echo: hello" || bot.HTML != "<p>echo: hello</p>" || bot.ConversationID != ack.ConversationID {
		t.Fatalf("bot reply %+v: want echo at seq 2 with its HTML", bot)
	}
	contact, err := s.store.ContactByExternal(context.Background(), ChannelName, VisitorKey(c.token))
	if err != nil {
		t.Fatalf("contact by the token's hash: %v", err)
	}
	if strings.Contains(contact.ExternalID, c.token) {
		t.Fatal("the contact stores the token itself; want only its hash")
	}
}

func TestResumeAfterReconnectDeliversExactlyOnceInOrder(t *testing.T) {
	s := newTestServer(t, nil)
	ctx := context.Background()
	c, _ := s.connect(t, nil)
	c.say("m1", "hello")
	var last frame
	for _, f := range c.until(both()) {
		if f.Type == "message" && f.Sender == "bot" {
			last = f
		}
	}
	c.close()

	// While the visitor is away, an agent writes three times.
	for i := 1; i <= 3; i++ {
		if _, err := s.gw.Send(ctx, last.ConversationID, concierge.Outgoing{Sender: concierge.SenderAgent,
			SenderName: "Ana", Text: fmt.Sprintf("agent %d", i)}); err != nil {
			t.Fatal(err)
		}
	}
	c2, w := s.connect(t, map[string]any{"token": c.token, "conversation_id": last.ConversationID, "seq": last.Seq})
	if w.Token != "" || w.ConversationID != last.ConversationID {
		t.Fatalf("welcome %+v: want the same visitor (no new token) in conversation %d", w, last.ConversationID)
	}
	got := c2.drain()
	if len(got) != 3 {
		t.Fatalf("after resume got %d messages %+v, want the 3 missed ones exactly once", len(got), got)
	}
	for i, f := range got {
		if f.Seq != last.Seq+int64(i)+1 || f.Text != fmt.Sprintf("agent %d", i+1) || f.SenderName != "Ana" {
			t.Fatalf("message %d after resume: %+v, want agent %d at seq %d", i, f, i+1, last.Seq+int64(i)+1)
		}
	}
	// Live messages continue the sequence with no repeat.
	if _, err := s.gw.Send(ctx, last.ConversationID, concierge.Outgoing{Sender: concierge.SenderAgent, Text: "live"}); err != nil {
		t.Fatal(err)
	}
	live := c2.next("message")
	if live.Seq != last.Seq+4 || live.Text != "live" {
		t.Fatalf("live message %+v, want seq %d", live, last.Seq+4)
	}
	if more := c2.drain(); len(more) != 0 {
		t.Fatalf("extra messages %+v: want none", more)
	}

	// A fresh window (no seq) gets the whole history, in order.
	c3, _ := s.connect(t, map[string]any{"token": c.token})
	all := c3.drain()
	if len(all) != 6 {
		t.Fatalf("fresh window got %d messages, want 6", len(all))
	}
	for i, f := range all {
		if f.Seq != int64(i)+1 {
			t.Fatalf("history out of order at %d: %+v", i, all)
		}
	}
}

func TestResumeFillsGapsFromTheStoreWhenEventsArriveOutOfOrder(t *testing.T) {
	s := newTestServer(t, nil)
	ctx := context.Background()
	c, _ := s.connect(t, nil)
	c.say("m1", "hello")
	c.until(both())
	// Store two messages without publishing them, then publish only the second: the
	// connection must notice the gap and read the first from the store.
	m3, err := s.store.Append(ctx, c.conv0(t, s), concierge.Outgoing{Sender: concierge.SenderAgent, Text: "three"}, false)
	if err != nil {
		t.Fatal(err)
	}
	m4, err := s.store.Append(ctx, m3.ConversationID, concierge.Outgoing{Sender: concierge.SenderAgent, Text: "four"}, false)
	if err != nil {
		t.Fatal(err)
	}
	s.bus.Publish(concierge.ConversationTopic(m4.ConversationID), concierge.Event{Kind: concierge.EventMessage,
		ConversationID: m4.ConversationID, Message: &m4})
	s.bus.Publish(concierge.ConversationTopic(m3.ConversationID), concierge.Event{Kind: concierge.EventMessage,
		ConversationID: m3.ConversationID, Message: &m3})
	got := c.drain()
	if len(got) != 2 || got[0].Text != "three" || got[1].Text != "four" {
		t.Fatalf("got %+v, want three then four, once each", got)
	}
}

// conv0 is the visitor's current conversation.
func (c *client) conv0(t *testing.T, s *testServer) int64 {
	t.Helper()
	contact, err := s.store.ContactByExternal(context.Background(), ChannelName, VisitorKey(c.token))
	if err != nil {
		t.Fatal(err)
	}
	conv, err := s.store.LatestConversation(context.Background(), contact.ID)
	if err != nil {
		t.Fatal(err)
	}
	return conv.ID
}

func TestDuplicateClientIDIsStoredOnce(t *testing.T) {
	s := newTestServer(t, nil)
	c, _ := s.connect(t, nil)
	c.say("same-id", "hello")
	var ack1 frame
	for _, f := range c.until(both()) {
		if f.Type == "ack" {
			ack1 = f
		}
	}
	c.close()

	// The client did not see the ack (say the connection dropped) and resends after
	// reconnecting; and a second visitor happens to use the same client id.
	c2, _ := s.connect(t, map[string]any{"token": c.token, "conversation_id": ack1.ConversationID, "seq": 2})
	c2.say("same-id", "hello")
	ack2 := c2.next("ack")
	if !ack2.Duplicate || ack2.Seq != ack1.Seq || ack2.ConversationID != ack1.ConversationID {
		t.Fatalf("resend acked %+v, want a duplicate of seq %d", ack2, ack1.Seq)
	}
	other, _ := s.connect(t, nil)
	other.say("same-id", "hi from someone else")
	acks := other.until(func(f frame) bool { return f.Type == "ack" })
	if a := acks[len(acks)-1]; a.Duplicate || a.ConversationID == ack1.ConversationID {
		t.Fatalf("another visitor's message with the same client id was acked %+v: ids are per visitor", a)
	}
	msgs, err := s.store.Messages(context.Background(), ack1.ConversationID, 0, 100, true)
	if err != nil {
		t.Fatal(err)
	}
	if len(msgs) != 2 {
		t.Fatalf("conversation holds %d messages, want the message and one bot reply", len(msgs))
	}
	if extra := c2.drain(); len(extra) != 0 {
		t.Fatalf("resend produced frames %+v, want none", extra)
	}
}

func TestOversizeFrameGetsAnErrorAndTheConnectionSurvives(t *testing.T) {
	s := newTestServer(t, nil)
	c, _ := s.connect(t, nil)
	c.say("big", strings.Repeat("x", 4097))
	e := c.next("error")
	if e.Code != CodeTooLarge || e.ID != "big" {
		t.Fatalf("got %+v, want too_large for message big", e)
	}
	// A frame far over the limit (not even parsed) is refused the same way.
	c.say("huge", strings.Repeat("y", 200_000))
	if e := c.next("error"); e.Code != CodeTooLarge {
		t.Fatalf("got %+v, want too_large", e)
	}
	c.send("not an object")
	if e := c.next("error"); e.Code != CodeBadFrame {
		t.Fatalf("got %+v, want bad_frame", e)
	}
	c.say("ok", strings.Repeat("z", 4096))
	got := c.until(func(f frame) bool { return f.Type == "ack" })
	if a := got[len(got)-1]; a.ID != "ok" || a.Seq != 1 {
		t.Fatalf("after the errors, a message at the limit was acked %+v, want seq 1", a)
	}
}

func TestMessageBeforeHelloIsRefused(t *testing.T) {
	s := newTestServer(t, nil)
	c, _, err := s.dial(t, "")
	if err != nil {
		t.Fatal(err)
	}
	c.say("m1", "hi")
	if e := c.next("error"); e.Code != CodeHelloRequired {
		t.Fatalf("got %+v, want hello_required", e)
	}
	c.send(map[string]any{"type": "hello"})
	c.next("welcome")
}

func TestForeignOriginIsRefused(t *testing.T) {
	s := newTestServer(t, func(o *Options) { o.AllowedOrigins = []string{"https://shop.example"} })
	for _, tc := range []struct {
		origin string
		want   int
	}{
		{"https://evil.example", http.StatusForbidden},
		{"http://shop.example", http.StatusForbidden}, // scheme matters
		{"https://shop.example", http.StatusSwitchingProtocols},
		{"HTTPS://SHOP.example:443", http.StatusSwitchingProtocols},
		{s.http.URL, http.StatusSwitchingProtocols}, // the chat frame itself
	} {
		c, resp, err := s.dial(t, tc.origin)
		if resp == nil {
			t.Fatalf("origin %s: no response: %v", tc.origin, err)
		}
		if resp.StatusCode != tc.want {
			t.Errorf("origin %s: status %d, want %d", tc.origin, resp.StatusCode, tc.want)
		}
		if c != nil {
			c.close()
		}
	}
	// The chat frame may be embedded only by allowed sites.
	for origin, want := range map[string]int{"https://evil.example": 403, "https://shop.example": 200} {
		resp, err := http.Get(s.http.URL + "/widget/frame?origin=" + origin)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != want {
			t.Errorf("frame for %s: status %d, want %d", origin, resp.StatusCode, want)
		}
		if want == 200 {
			csp := resp.Header.Get("Content-Security-Policy")
			if !strings.Contains(csp, "frame-ancestors 'self' https://shop.example") {
				t.Errorf("frame CSP %q: want frame-ancestors limited to the allowed site", csp)
			}
		}
	}
}

func TestDefaultOriginsAreTheServerInAnyLoopbackSpelling(t *testing.T) {
	o := newOrigins(nil, "http://127.0.0.1:8080")
	for origin, want := range map[string]bool{
		"http://127.0.0.1:8080": true, "http://localhost:8080": true, "http://[::1]:8080": true,
		"http://localhost:9090": false, "https://localhost:8080": false, "http://example.com": false,
	} {
		if got := o.allowed(origin, nil); got != want {
			t.Errorf("allowed(%s) = %v, want %v", origin, got, want)
		}
	}
}

func TestVerifiedIdentityIsStoredOnTheContact(t *testing.T) {
	s := newTestServer(t, func(o *Options) { o.IdentitySecret = "secret" })
	if got := UserHash("secret", "user_42"); got != "af798d3bfdbad0f62fc0fa761daf43a99c218f0aed5f754a413712527cccc794" {
		t.Fatalf("UserHash test vector: got %s", got)
	}
	user := map[string]any{"id": "user_42", "name": "Wei Chen", "email": "wei@example.com",
		"user_hash":  "AF798D3BFDBAD0F62FC0FA761DAF43A99C218F0AED5F754A413712527CCCC794", // case does not matter
		"attributes": map[string]string{"tier": "enterprise"}}
	c, w := s.connect(t, map[string]any{"user": user})
	if !w.Verified {
		t.Fatalf("welcome %+v: want verified", w)
	}
	c.say("m1", "hi")
	c.next("message")
	contact, err := s.store.ContactByExternal(context.Background(), ChannelName, VisitorKey(c.token))
	if err != nil {
		t.Fatal(err)
	}
	if !contact.Verified || contact.Name != "Wei Chen" || contact.Tier() != "enterprise" || contact.Attributes["user_id"] != "user_42" {
		t.Fatalf("contact %+v: want the verified name, tier and user id", contact)
	}

	// A forged hash is reported and the claim ignored: no tier from an unsigned claim.
	forged := map[string]any{"id": "user_43", "user_hash": strings.Repeat("0", 64), "attributes": map[string]string{"tier": "vip"}}
	c2, _, err := s.dial(t, "")
	if err != nil {
		t.Fatal(err)
	}
	c2.send(map[string]any{"type": "hello", "user": forged})
	if e := c2.next("error"); e.Code != CodeIdentityInvalid {
		t.Fatalf("forged hash: got %+v, want identity_invalid", e)
	}
	w2 := c2.next("welcome")
	if w2.Verified {
		t.Fatal("forged identity welcomed as verified")
	}
	c2.token = w2.Token
	c2.say("m1", "hi")
	c2.next("message")
	anon, err := s.store.ContactByExternal(context.Background(), ChannelName, VisitorKey(c2.token))
	if err != nil {
		t.Fatal(err)
	}
	if anon.Verified || anon.Tier() != "" {
		t.Fatalf("contact %+v from a forged claim: want unverified without tier", anon)
	}

	// Another verified user on the same browser (no reset at logout) becomes a new visitor.
	other := map[string]any{"id": "user_7", "user_hash": UserHash("secret", "user_7")}
	_, w3 := s.connect(t, map[string]any{"token": c.token, "user": other})
	if w3.Token == "" || w3.Token == c.token || w3.ConversationID != 0 {
		t.Fatalf("welcome %+v: want a new token and no conversation for a different signed-in user", w3)
	}
}

func TestRequiredIdentityRefusesUnverifiedVisitors(t *testing.T) {
	s := newTestServer(t, func(o *Options) { o.IdentitySecret = "secret"; o.IdentityRequired = true })
	for name, hello := range map[string]map[string]any{
		"anonymous": {"type": "hello"},
		"no hash":   {"type": "hello", "user": map[string]any{"id": "user_42"}},
		"bad hash":  {"type": "hello", "user": map[string]any{"id": "user_42", "user_hash": UserHash("other", "user_42")}},
	} {
		c, _, err := s.dial(t, "")
		if err != nil {
			t.Fatal(err)
		}
		c.send(hello)
		e := c.next("error")
		if e.Code != CodeIdentityRequired && e.Code != CodeIdentityInvalid {
			t.Fatalf("%s: got %+v, want an identity error", name, e)
		}
		_ = c.ws.WriteJSON(map[string]any{"type": "message", "id": "m1", "text": "let me in"}) // may race the close
		select {
		case f, ok := <-c.frames:
			if ok {
				t.Fatalf("%s: after refusal got %+v, want the connection closed", name, f)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("%s: connection not closed after refusing the identity", name)
		}
		var ce *websocket.CloseError
		if err := <-c.done; !asCloseError(err, &ce) || ce.Code != websocket.ClosePolicyViolation {
			t.Fatalf("%s: closed with %v, want policy violation", name, err)
		}
	}
	c, w := s.connect(t, map[string]any{"user": map[string]any{"id": "user_42", "user_hash": UserHash("secret", "user_42")}})
	if !w.Verified {
		t.Fatalf("verified user welcomed %+v", w)
	}
	c.say("m1", "hi")
	c.next("message")
}

func asCloseError(err error, target **websocket.CloseError) bool {
	ce, ok := err.(*websocket.CloseError)
	if ok {
		*target = ce
	}
	return ok
}

func TestRateLimitAnswersWithAnErrorFrame(t *testing.T) {
	s := newTestServer(t, func(o *Options) { o.RatePerVisitor = 3 }) // burst of 1
	c, _ := s.connect(t, nil)
	c.say("a", "one")
	c.say("b", "two")
	got := c.until(func(f frame) bool { return f.Type == "error" })
	e := got[len(got)-1]
	if e.Code != CodeRateLimited || e.ID != "b" || e.RetryAfterMS <= 0 {
		t.Fatalf("got %+v, want rate_limited for b with a retry delay", e)
	}
	// The connection stays usable.
	c.send(map[string]any{"type": "ping"})
	c.until(func(f frame) bool { return f.Type == "pong" })
}

func TestTypingGoesBothWays(t *testing.T) {
	s := newTestServer(t, nil)
	c, _ := s.connect(t, nil)
	c.say("m1", "hello")
	reply := c.until(both())
	conv := reply[0].ConversationID
	agents := s.bus.Subscribe(concierge.TopicAgents, 16)
	defer agents.Close()
	c.send(map[string]any{"type": "typing", "on": true})
	deadline := time.After(10 * time.Second)
	for seen := false; !seen; {
		select {
		case ev := <-agents.C:
			seen = ev.Kind == concierge.EventTyping && ev.ConversationID == conv && ev.Typing.Sender == concierge.SenderUser && ev.Typing.On
		case <-deadline:
			t.Fatal("agents never saw the visitor typing")
		}
	}
	s.gw.Typing(context.Background(), conv, concierge.Typing{Sender: concierge.SenderAgent, Name: "Ana", On: true})
	if f := c.next("typing"); f.Sender != "agent" || f.Name != "Ana" || !f.On {
		t.Fatalf("typing frame %+v, want Ana typing", f)
	}
}

func TestQuickRepliesHumanRequestAndNewConversationAfterClose(t *testing.T) {
	s := newTestServer(t, nil)
	ctx := context.Background()
	c, _ := s.connect(t, nil)
	c.say("m1", "menu")
	var last frame
	for _, f := range c.until(both()) {
		if f.Type == "message" && f.Sender == "bot" {
			last = f
		}
	}
	if len(last.QuickReplies) != 2 || last.QuickReplies[0].Payload != "topic:billing" {
		t.Fatalf("menu %+v: want two quick replies", last)
	}
	c.send(map[string]any{"type": "message", "id": "m2", "text": "Billing", "payload": "topic:billing"})
	for _, f := range c.until(both()) {
		if f.Type == "message" && f.Sender == "bot" && f.Text != "picked topic:billing" {
			t.Fatalf("quick reply answered %+v", f)
		}
	}
	c.send(map[string]any{"type": "message", "id": "m3", "text": "I'd like to talk to a person", "action": "human"})
	var ack frame
	for _, f := range c.until(both()) {
		if f.Type == "ack" {
			ack = f
		}
	}
	msgs, err := s.store.Messages(ctx, ack.ConversationID, ack.Seq-1, 1, false)
	if err != nil || len(msgs) != 1 || msgs[0].Action() != concierge.ActionHuman {
		t.Fatalf("stored %+v (%v): want the human request's action", msgs, err)
	}

	// A second window of the same visitor.
	c2, _ := s.connect(t, map[string]any{"token": c.token})
	c2.drain()
	c.say("m4", "bye")
	c.until(func(f frame) bool { return f.Type == "message" && f.Text == "goodbye" })
	c.until(func(f frame) bool { return f.Type == "status" && f.Status == "closed" })

	// Writing again starts a new conversation; both windows follow it.
	c.say("m5", "one more thing")
	for i, w := range []*client{c, c2} {
		got := w.until(func(f frame) bool { return f.Type == "message" && f.Text == "echo: one more thing" })
		reply := got[len(got)-1]
		if reply.ConversationID == ack.ConversationID || reply.Seq != 2 {
			t.Fatalf("window %d: reply %+v, want seq 2 of a new conversation", i, reply)
		}
	}
}

func TestSlowConsumerIsDroppedWithoutBlockingOthers(t *testing.T) {
	s := newTestServer(t, func(o *Options) { o.SendQueue = 4 })
	s.ch.dropped = make(chan struct{}, 1)
	ctx := context.Background()
	fast, _ := s.connect(t, nil)
	fast.say("m1", "hello")
	first := fast.until(both())
	conv := first[0].ConversationID
	// The slow window belongs to the same visitor, so both follow the same conversation;
	// its client reads nothing.
	slow, _ := s.connectBuffered(t, map[string]any{"token": fast.token, "conversation_id": conv, "seq": 2}, 0)

	big := strings.Repeat("z", 256<<10)
	const n = 80 // 20 MB: far more than the socket buffers hold
	// The agent writes at the pace the fast window reads; the slow window falls behind.
	for i := 0; i < n; i++ {
		if _, err := s.gw.Send(ctx, conv, concierge.Outgoing{Sender: concierge.SenderAgent, Text: fmt.Sprintf("%d:%s", i, big)}); err != nil {
			t.Fatal(err)
		}
		f := fast.next("message")
		if want := fmt.Sprintf("%d:", i); !strings.HasPrefix(f.Text, want) || f.Seq != int64(3+i) {
			t.Fatalf("fast window message %d: seq %d, want %d", i, f.Seq, 3+i)
		}
	}
	select {
	case <-s.ch.dropped:
	case <-time.After(30 * time.Second):
		t.Fatal("the slow connection was not dropped")
	}
	if v := testutil.ToFloat64(s.metrics.Dropped.WithLabelValues("widget")); v != 1 {
		t.Fatalf("dropped counter %v, want 1", v)
	}
	// The slow window's reader now catches up with what was buffered, sees the close,
	// and resumes from the last message it saw: it gets the rest exactly once.
	lastSeq := int64(2)
	for f := range slow.frames {
		if f.Type == "message" {
			if f.Seq != lastSeq+1 {
				t.Fatalf("slow window got seq %d after %d", f.Seq, lastSeq)
			}
			lastSeq = f.Seq
		}
	}
	if lastSeq >= 2+n {
		t.Fatalf("slow window received everything (%d) before being dropped; the test proves nothing", lastSeq)
	}
	again, _ := s.connect(t, map[string]any{"token": fast.token, "conversation_id": conv, "seq": lastSeq})
	rest := again.drain()
	if int64(len(rest)) != 2+n-lastSeq {
		t.Fatalf("resume after seq %d got %d messages, want %d", lastSeq, len(rest), 2+n-lastSeq)
	}
	for i, f := range rest {
		if f.Seq != lastSeq+int64(i)+1 {
			t.Fatalf("resumed message %d has seq %d", i, f.Seq)
		}
	}
}

func TestTokensAreCheckedNotTrusted(t *testing.T) {
	s := newTestServer(t, nil)
	tok := s.ch.NewToken()
	if !s.ch.validToken(tok) {
		t.Fatal("issued token refused")
	}
	raw := []byte(tok)
	raw[len(raw)-3] ^= 1
	for _, bad := range []string{"", "cv1.", string(raw), "cv1." + strings.Repeat("A", 43), "visitor-1"} {
		if s.ch.validToken(bad) {
			t.Errorf("token %q accepted", bad)
		}
	}
	_, w := s.connect(t, map[string]any{"token": "made-up"})
	if w.Token == "" || w.Token == "made-up" {
		t.Fatalf("welcome %+v: a made-up token must be replaced by an issued one", w)
	}
}

// A conversation can change status before the window follows it: the bot closes it (or
// hands it to a person) while the window is still switching to the new conversation.
// The window catches up on the messages from the store, and must learn the status the
// same way; before this was so, a customer whose first message was escalated at once
// could miss the "queued" status (the load tool found it).
func TestANewConversationsStatusIsNeverMissed(t *testing.T) {
	s := newTestServer(t, func(o *Options) { o.RatePerVisitor, o.RatePerIP = 100000, 100000 })
	c, _ := s.connect(t, nil)
	for i := range 40 {
		c.say(fmt.Sprintf("b%d", i), "bye")
		// The ack may come after the conversation's own frames; a missed status never
		// comes, and until fails after 10 s showing what did.
		var conv int64
		closed := map[int64]bool{}
		c.until(func(f frame) bool {
			if f.Type == "ack" {
				conv = f.ConversationID
			}
			if f.Type == "status" && f.Status == "closed" {
				closed[f.ConversationID] = true
			}
			return conv != 0 && closed[conv]
		})
	}
}
