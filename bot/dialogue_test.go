package bot

import (
	"context"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"

	"github.com/rs/zerolog"

	"github.com/conciergehq/concierge"
	"github.com/conciergehq/concierge/channels"
	"github.com/conciergehq/concierge/kb"
)

var update = flag.Bool("update", false, "rewrite the golden dialogues under testdata/dialogues from the bot's current answers")

// Golden dialogues: each file under testdata/dialogues is a conversation. Lines starting
// with "user:", "tap:" or "action:" are what the customer does; "@" lines set up the
// contact; "#" lines are comments. Everything else is the bot's side, written by the
// test with -update and compared otherwise:
//
//	user: where is my order
//	  bot: What is your order number? …
//	  = ask order-status 0.71 missing_detail:order_number
//	tap: helpful:yes | Yes
//	  ! escalate team=billing …
const dialogueDir = "../testdata/dialogues"

func TestGoldenDialogues(t *testing.T) {
	b, fb := newDialogueBot(t)
	files, err := filepath.Glob(filepath.Join(dialogueDir, "*.txt"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no dialogues in %s: %v", dialogueDir, err)
	}
	covered := map[string]bool{}
	for _, f := range files {
		t.Run(strings.TrimSuffix(filepath.Base(f), ".txt"), func(t *testing.T) {
			in, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			got, cov := playDialogue(t, b, string(in))
			for k := range cov {
				covered[k] = true
			}
			if *update {
				if err := os.WriteFile(f, []byte(got), 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			if got != string(in) {
				t.Errorf("dialogue %s changed (run go test ./bot -run GoldenDialogues -update to accept):\n%s",
					filepath.Base(f), diffLines(string(in), got))
			}
		})
	}
	// The dialogues must cover every action and every escalation trigger, in English
	// and in Chinese.
	var missing []string
	for _, lang := range []string{"en", "zh"} {
		for _, a := range []string{"answer", "clarify", "ask", "escalate", "smalltalk", "resolved"} {
			if !covered[lang+" action "+a] {
				missing = append(missing, lang+" action "+a)
			}
		}
		for _, r := range []string{reasonHuman, reasonLow, reasonFrustrated, reasonArticle, reasonTier, reasonNotHelpful} {
			if !covered[lang+" escalation "+r] {
				missing = append(missing, lang+" escalation "+r)
			}
		}
	}
	if len(missing) > 0 && !*update {
		sort.Strings(missing)
		t.Errorf("golden dialogues do not cover: %s", strings.Join(missing, ", "))
	}
	if fb.count() == 0 {
		t.Error("no dialogue recorded feedback on an answer")
	}
}

// playDialogue runs the customer's side of a dialogue through the bot, applying each
// reply to the conversation the way the store does, and writes the transcript.
func playDialogue(t *testing.T, b *Bot, script string) (string, map[string]bool) {
	t.Helper()
	var out strings.Builder
	conv := concierge.Conversation{ID: 1, Channel: "web", Status: concierge.StatusBot}
	contact := concierge.Contact{ID: 1, Channel: "web", ExternalID: "visitor"}
	var history []concierge.Message
	covered := map[string]bool{}
	seq := int64(0)
	for _, line := range strings.Split(strings.TrimRight(script, "\n"), "\n") {
		trimmed := strings.TrimSpace(line)
		var msg concierge.Message
		switch {
		case strings.HasPrefix(line, "#") || line == "":
			out.WriteString(line + "\n")
			continue
		case strings.HasPrefix(line, "@contact "):
			out.WriteString(line + "\n")
			contact.Attributes = map[string]string{}
			for _, kv := range strings.Fields(strings.TrimPrefix(line, "@contact ")) {
				k, v, _ := strings.Cut(kv, "=")
				if k == "email" {
					contact.Email = v
				} else {
					contact.Attributes[k] = v
				}
			}
			continue
		case strings.HasPrefix(line, "user:"):
			msg.Text = strings.TrimSpace(strings.TrimPrefix(line, "user:"))
		case strings.HasPrefix(line, "tap:"):
			p, label, _ := strings.Cut(strings.TrimSpace(strings.TrimPrefix(line, "tap:")), "|")
			msg.Payload, msg.Text = strings.TrimSpace(p), strings.TrimSpace(label)
		case strings.HasPrefix(line, "action:"):
			a, text, _ := strings.Cut(strings.TrimSpace(strings.TrimPrefix(line, "action:")), "|")
			msg.Payload, msg.Text = "action:"+strings.TrimSpace(a), strings.TrimSpace(text)
		case strings.HasPrefix(line, " ") || strings.HasPrefix(line, "\t") || trimmed == "":
			continue // the bot's side: regenerated
		default:
			t.Fatalf("dialogue line not understood: %q", line)
		}
		out.WriteString(line + "\n")
		seq++
		msg.ID, msg.Seq, msg.Sender, msg.ConversationID = seq, seq, concierge.SenderUser, conv.ID
		history = append(history, msg)
		if conv.Status != concierge.StatusBot {
			fmt.Fprintf(&out, "  (conversation %s: the bot stays silent)\n", conv.Status)
			continue
		}
		reply, err := b.Respond(context.Background(), channels.Turn{Conversation: conv, Contact: contact, Message: msg,
			History: append([]concierge.Message(nil), history...)})
		if err != nil {
			t.Fatalf("respond to %q: %v", line, err)
		}
		for _, m := range reply.Messages {
			seq++
			history = append(history, concierge.Message{ID: seq, Seq: seq, Sender: m.Sender, Text: m.Text, HTML: m.HTML})
			writeBotMessage(&out, m)
		}
		d := reply.Decision
		fmt.Fprintf(&out, "  = %s %s %.2f %s", d.Action, orDash(d.ArticleID), d.Score, d.Reason)
		if d.Gap {
			out.WriteString(" gap")
		}
		fmt.Fprintf(&out, " [%s]\n", d.Language)
		covered[reply.Language+" action "+d.Action] = true
		if e := reply.Escalation; e != nil {
			covered[reply.Language+" escalation "+e.Reason] = true
			var cands []string
			for _, c := range e.Candidates {
				cands = append(cands, fmt.Sprintf("%s:%.2f", c.ArticleID, c.Score))
			}
			fmt.Fprintf(&out, "  ! escalate reason=%s team=%s sentiment=%s details=%s candidates=%s\n",
				e.Reason, e.Team, e.Sentiment, formatMap(e.Details), strings.Join(cands, ","))
			fmt.Fprintf(&out, "  ! note: %s\n", e.Note)
			conv.Status = concierge.StatusQueued
		}
		if len(reply.Details) > 0 {
			fmt.Fprintf(&out, "  ~ learnt %s\n", formatMap(reply.Details))
			if conv.Details == nil {
				conv.Details = map[string]string{}
			}
			for k, v := range reply.Details {
				conv.Details[k] = v
			}
		}
		if reply.Resolved {
			out.WriteString("  ~ resolved: conversation closed\n")
			conv.Status = concierge.StatusClosed
		}
		conv.Language = reply.Language
		conv.BotState = reply.BotState
	}
	return out.String(), covered
}

func writeBotMessage(out *strings.Builder, m concierge.Outgoing) {
	lines := strings.Split(strings.TrimSpace(m.Text), "\n")
	fmt.Fprintf(out, "  bot: %s\n", lines[0])
	for _, l := range lines[1:] {
		if strings.TrimSpace(l) == "" {
			continue
		}
		fmt.Fprintf(out, "       %s\n", l)
	}
	if len(m.QuickReplies) > 0 {
		var qs []string
		for _, q := range m.QuickReplies {
			qs = append(qs, fmt.Sprintf("[%s](%s)", q.Label, q.Payload))
		}
		fmt.Fprintf(out, "       %s\n", strings.Join(qs, " "))
	}
	if m.HTML != "" && !strings.Contains(m.HTML, "/help/") {
		fmt.Fprintf(out, "       (html without an article link)\n")
	}
}

func formatMap(m map[string]string) string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var parts []string
	for _, k := range keys {
		parts = append(parts, k+"="+m[k])
	}
	if len(parts) == 0 {
		return "-"
	}
	return strings.Join(parts, ",")
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// diffLines shows the first lines that differ.
func diffLines(want, got string) string {
	w, g := strings.Split(want, "\n"), strings.Split(got, "\n")
	var b strings.Builder
	shown := 0
	for i := 0; i < max(len(w), len(g)) && shown < 12; i++ {
		var wl, gl string
		if i < len(w) {
			wl = w[i]
		}
		if i < len(g) {
			gl = g[i]
		}
		if wl != gl {
			fmt.Fprintf(&b, "line %d\n  want: %s\n  got:  %s\n", i+1, wl, gl)
			shown++
		}
	}
	return b.String()
}

// feedbackLog records "Did this help?" answers.
type feedbackLog struct {
	mu   sync.Mutex
	list []string
}

func (f *feedbackLog) add(id string, helpful bool) {
	f.mu.Lock()
	f.list = append(f.list, fmt.Sprintf("%s:%v", id, helpful))
	f.mu.Unlock()
}

func (f *feedbackLog) count() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.list)
}

func dialogueOptions() Options {
	return Options{BaseURL: "https://help.example.com", DefaultTeam: "general",
		TeamDetails:   map[string][]string{"technical": {"account_id", "region", "error_code"}},
		EscalateTiers: []string{"vip"}}
}

func testLogger(t testing.TB) zerolog.Logger { return zerolog.New(zerolog.NewTestWriter(t)) }

// fixtureArticles reads the dialogue KB fixture.
func fixtureArticles(t testing.TB) []kb.Article {
	files, _ := filepath.Glob(filepath.Join(dialogueDir, "kb", "*.md"))
	if len(files) == 0 {
		t.Fatal("no fixture KB")
	}
	var arts []kb.Article
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		arts = append(arts, parseTestArticle(t, b))
	}
	return arts
}
