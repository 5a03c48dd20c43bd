package wechat

import (
	"bytes"
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/conciergehq/concierge"
	"github.com/conciergehq/concierge/internal/blob"
	"github.com/conciergehq/concierge/internal/store"
)

// TestFullFlowFromQuestionToRating walks one customer through everything a WeChat
// conversation does: a question answered passively, a request for a person, a message
// while queued, the agent's replies (text and a screenshot) through the customer-service
// API, closing with a survey, the rating sent back as a digit, and a new question after.
//
// The handoff here is a test double doing in SQL what the handoff package does; the
// cross-feature version of this test, with the triage bot and the real handoff, is written
// after those branches merge.
func TestFullFlowFromQuestionToRating(t *testing.T) {
	h := newHarness(t, harnessOpts{mode: "safe"})
	ctx := context.Background()
	const openID = "o_flow"

	// 1. A question, answered within the budget as the passive reply.
	if _, reply := h.call(text(openID, "where is my order?", "9001"), callOpts{}); reply != "answer: where is my order?" {
		t.Fatalf("question answered %q", reply)
	}
	// 2. Asking for a person: the bot says so, the conversation is queued.
	if _, reply := h.call(text(openID, "human", "9002"), callOpts{}); reply != "Connecting you to a person." {
		t.Fatalf("escalation answered %q", reply)
	}
	conv := h.waitStatus(openID, concierge.StatusQueued)
	// 3. Writing while queued: acknowledged at once, passed to the people's side.
	start := time.Now()
	if code, reply := h.call(text(openID, "my order number is 12345", "9003"), callOpts{}); code != 200 || reply != "" {
		t.Fatalf("message while queued: %d %q, want success", code, reply)
	}
	if waited := time.Since(start); waited > 2*time.Second {
		t.Fatalf("a queued conversation's message was held %s; agents reply through the API", waited)
	}
	// 4. The agent answers: through the customer-service API, with their name.
	if _, err := h.gw.Send(ctx, conv.ID, concierge.Outgoing{Sender: concierge.SenderAgent, SenderID: 7, SenderName: "Ann",
		Text: "Hi, I'm Ann. Order 12345 ships today."}); err != nil {
		t.Fatal(err)
	}
	if m := h.api.waitSent(t); m.To != openID || m.Text != "Ann: Hi, I'm Ann. Order 12345 ships today." {
		t.Fatalf("agent message sent as %+v", m)
	}
	// …and a screenshot kept on our server is uploaded to WeChat and sent as an image.
	png := []byte("\x89PNG\r\n\x1a\n screenshot")
	meta, err := h.files.Put(ctx, bytes.NewReader(png), "tracking.png", "image/png")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := h.gw.Send(ctx, conv.ID, concierge.Outgoing{Sender: concierge.SenderAgent, SenderName: "Ann",
		Attachments: []concierge.Attachment{{Kind: "image", URL: blob.URL(meta.Key), Name: "tracking.png"}}}); err != nil {
		t.Fatal(err)
	}
	img := h.api.waitSent(t)
	h.api.mu.Lock()
	uploaded := h.api.uploads[img.MediaID]
	h.api.mu.Unlock()
	if img.Type != "image" || !bytes.Equal(uploaded, png) {
		t.Fatalf("screenshot sent as %+v with %d uploaded bytes, want the image itself", img, len(uploaded))
	}
	// 5. The agent closes; the survey goes out as numbered options carrying their rating.
	if err := h.st.Write(ctx, func(ctx context.Context, tx *store.Tx) error {
		_, err := tx.ExecContext(ctx, `UPDATE conversations SET status = 'closed', csat_pending = 1, closed_at = ? WHERE id = ?`,
			time.Now().UnixMilli(), conv.ID)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	var csat []concierge.QuickReply
	for n := 5; n >= 1; n-- {
		csat = append(csat, concierge.QuickReply{Label: strings.Repeat("★", n), Payload: fmt.Sprintf("csat:%d", n)})
	}
	if _, err := h.gw.Send(ctx, conv.ID, concierge.Outgoing{Sender: concierge.SenderSystem,
		Text: "How did we do?", QuickReplies: csat}); err != nil {
		t.Fatal(err)
	}
	survey := h.api.waitSent(t)
	if !strings.Contains(survey.Text, "5. ★★★★★") || !strings.Contains(survey.Text, "1. ★") {
		t.Fatalf("survey sent as %q", survey.Text)
	}
	// 6. The customer answers "4": the rating reaches the handoff for the closed
	//    conversation, whose thanks come back as the passive reply.
	h.handoff.mu.Lock()
	h.handoff.thanks = h.gw
	h.handoff.mu.Unlock()
	if _, reply := h.call(text(openID, "4", "9004"), callOpts{}); reply != "Thanks for rating us 4/5." {
		t.Fatalf("rating answered %q", reply)
	}
	select {
	case r := <-h.handoff.rated:
		if r != 4 {
			t.Fatalf("rated %d, want 4", r)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the rating never reached the handoff")
	}
	_, msgs := h.conversation(openID)
	if last := msgs[len(msgs)-2]; last.Text != "4" || last.Payload != "csat:4" || last.ConversationID != conv.ID {
		t.Fatalf("rating stored as %+v, want text 4 with payload csat:4 in conversation %d", last, conv.ID)
	}
	h.handoff.mu.Lock()
	passed := fmt.Sprint(h.handoff.msgs)
	h.handoff.mu.Unlock()
	if passed != "[my order number is 12345]" {
		t.Fatalf("handoff saw %s, want the message written while queued", passed)
	}
	// 7. A new question opens a new conversation with the bot.
	if _, reply := h.call(text(openID, "one more thing", "9005"), callOpts{}); reply != "answer: one more thing" {
		t.Fatalf("new question answered %q", reply)
	}
	if next, _ := h.conversation(openID); next.ID == conv.ID || next.Status != concierge.StatusBot {
		t.Fatalf("after the rating: conversation %d (%s), want a new bot conversation", next.ID, next.Status)
	}
}

func TestANumberPicksTheOfferedChoice(t *testing.T) {
	h := newHarness(t, harnessOpts{})
	const openID = "o_choice"
	if _, reply := h.call(text(openID, "choices", "9101"), callOpts{}); !strings.Contains(reply, "1. Yes\n2. No") {
		t.Fatalf("choices sent as %q", reply)
	}
	if _, reply := h.call(text(openID, "２", "9102"), callOpts{}); reply != "picked helped:no" {
		t.Fatalf("\"２\" answered %q, want the second option's payload", reply)
	}
	// The choices were answered: a number now is just text.
	if _, reply := h.call(text(openID, "2", "9103"), callOpts{}); reply != "answer: 2" {
		t.Fatalf("a later \"2\" answered %q", reply)
	}
}

func TestLongAnswersAreSplitPassiveFirstThenAPI(t *testing.T) {
	h := newHarness(t, harnessOpts{})
	h.bot.long = strings.Repeat("第一段很长的回答。", 120) + "\n\n" + strings.Repeat("Second part of a long answer. ", 80)
	_, reply := h.call(text("o_long", "long", "9201"), callOpts{})
	if reply == "" || len(reply) > maxTextBytes {
		t.Fatalf("passive part of %d bytes", len(reply))
	}
	rest := h.api.waitSent(t)
	if len(rest.Text) > maxTextBytes {
		t.Fatalf("API part of %d bytes", len(rest.Text))
	}
	all := reply
	for {
		all += rest.Text
		if strings.Count(all, "Second part") == 80 {
			break
		}
		rest = h.api.waitSent(t)
	}
	if strings.Count(all, "第一段很长的回答。") != 120 {
		t.Fatal("text lost or repeated across the parts")
	}
	if d := h.waitDelivered(1); d[0].State != "sent" {
		t.Fatalf("delivery %+v", d[0])
	}
}

func TestAFailedPartIsNotSentAgainOnRetry(t *testing.T) {
	h := newHarness(t, harnessOpts{budget: 10 * time.Millisecond})
	h.bot.hold = make(chan struct{})
	h.bot.long = strings.Repeat("a", 1500) + "\n\n" + strings.Repeat("b", 1500)
	h.call(text("o_part", "long", "9301"), callOpts{})
	h.api.fail("message/custom/send", 0, -1) // the first part goes, the second meets "busy"
	close(h.bot.hold)
	first := h.api.waitSent(t)
	second := h.api.waitSent(t) // after the busy answer's short retry
	if first.Text[0] != 'a' || second.Text[0] != 'b' {
		t.Fatalf("sent %q… then %q…, want each part once, in order", first.Text[:1], second.Text[:1])
	}
	if d := h.waitDelivered(1); d[0].State != "sent" {
		t.Fatalf("delivery %+v", d[0])
	}
	h.api.noMoreSent(t, 100*time.Millisecond)
}
