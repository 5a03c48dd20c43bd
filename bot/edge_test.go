package bot

import (
	"context"
	"strings"
	"testing"

	"github.com/conciergehq/concierge"
	"github.com/conciergehq/concierge/channels"
)

func turnOf(text string, att ...concierge.Attachment) channels.Turn {
	m := concierge.Message{ID: 1, Seq: 1, Sender: concierge.SenderUser, Text: text, Attachments: att}
	return channels.Turn{Conversation: concierge.Conversation{ID: 1, Status: concierge.StatusBot}, Message: m,
		History: []concierge.Message{m}}
}

// An empty knowledge base (a fresh install without the demo) still answers: small talk
// works and questions go to a person as content gaps. The bot loads itself on first use.
func TestEmptyKnowledgeBase(t *testing.T) {
	b, err := New(&sliceKB{fb: &feedbackLog{}}, plainRenderer{}, Options{}, testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	r, err := b.Respond(context.Background(), turnOf("how do I reset my password?"))
	if err != nil {
		t.Fatal(err)
	}
	if r.Decision.Action != "escalate" || !r.Decision.Gap || r.Escalation == nil || r.Escalation.Team != "general" {
		t.Fatalf("decision %+v escalation %+v: want a gap escalated to the default team", r.Decision, r.Escalation)
	}
	if r, _ := b.Respond(context.Background(), turnOf("hello")); r.Decision.Action != "smalltalk" {
		t.Fatalf("hello on an empty KB: %+v", r.Decision)
	}
}

// A photo without words cannot be searched: the bot asks for words once, then hands
// over to a person (who can see the photo).
func TestAttachmentWithoutText(t *testing.T) {
	b, _ := newDialogueBot(t)
	photo := concierge.Attachment{Kind: "image", URL: "/attachments/x"}
	r, err := b.Respond(context.Background(), turnOf("", photo))
	if err != nil {
		t.Fatal(err)
	}
	if r.Decision.Action != "clarify" || len(r.Messages) != 1 || !strings.Contains(r.Messages[0].Text, "describe") {
		t.Fatalf("first photo: %+v %+v", r.Decision, r.Messages)
	}
	tr := turnOf("", photo)
	tr.Conversation.BotState = r.BotState
	r, _ = b.Respond(context.Background(), tr)
	if r.Decision.Action != "escalate" || r.Escalation == nil {
		t.Fatalf("second photo: %+v", r.Decision)
	}
}

// A state written by another version of the bot is dropped, not misread.
func TestUnknownStateIsDropped(t *testing.T) {
	b, _ := newDialogueBot(t)
	tr := turnOf("1")
	tr.Conversation.BotState = []byte(`{"v": 99, "await": "pick", "choices": [{"id": "refund"}]}`)
	r, err := b.Respond(context.Background(), tr)
	if err != nil {
		t.Fatal(err)
	}
	if r.Decision.ArticleID == "refund" {
		t.Fatalf("a foreign state was followed: %+v", r.Decision)
	}
	if st := loadState(r.BotState); st.V != stateVersion {
		t.Fatalf("state written with version %d", st.V)
	}
}

// Details in messages the bot answered are on the conversation already and are not read
// again each turn; a message it never answered (an edit, say) is still read.
func TestDetailsAreReadOnceFromTheHistory(t *testing.T) {
	b, _ := newDialogueBot(t)
	seen := concierge.Message{ID: 1, Seq: 1, Sender: concierge.SenderUser, Text: "my email is old@example.com"}
	unseen := concierge.Message{ID: 3, Seq: 3, Sender: concierge.SenderUser, Text: "order #48213"}
	now := concierge.Message{ID: 5, Seq: 5, Sender: concierge.SenderUser, Text: "thanks"}
	st := state{Seen: 2}
	tr := channels.Turn{Conversation: concierge.Conversation{ID: 1, Status: concierge.StatusBot, BotState: st.encode()},
		Message: now, History: []concierge.Message{seen, unseen, now}}
	r, err := b.Respond(context.Background(), tr)
	if err != nil {
		t.Fatal(err)
	}
	if r.Details["order_number"] != "48213" {
		t.Fatalf("details %v: the unseen message's order number was not learnt", r.Details)
	}
	if _, ok := r.Details["email"]; ok {
		t.Fatalf("details %v: a message the bot had already read was extracted again", r.Details)
	}
	if got := loadState(r.BotState).Seen; got != 5 {
		t.Fatalf("state.Seen = %d, want 5", got)
	}
}
