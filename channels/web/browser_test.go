package web

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/input"
	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"

	"github.com/conciergehq/concierge"
	"github.com/conciergehq/concierge/channels"
	"github.com/conciergehq/concierge/internal/browsertest"
)

// demoBot answers like a support bot would, so the test (and the screenshot it can
// save) shows a realistic exchange: an HTML answer with quick replies.
type demoBot struct{}

func (demoBot) Respond(ctx context.Context, t channels.Turn) (concierge.Reply, error) {
	m := t.Message
	switch {
	case strings.Contains(strings.ToLower(m.Text), "domain"):
		return concierge.Reply{Messages: []concierge.Outgoing{{Sender: concierge.SenderBot,
			Text: "Open Settings → Domains, click Add domain and create the CNAME record shown. Certificates are issued automatically within a few minutes.",
			HTML: "<p>Open <strong>Settings → Domains</strong>, click <strong>Add domain</strong> and create the CNAME record shown.</p>" +
				"<p>Certificates are issued automatically within a few minutes. <a href=\"https://example.com/docs/domains\">Read the guide</a></p>",
			QuickReplies: []concierge.QuickReply{{Label: "That helped", Payload: "helpful:yes"}, {Label: "Still stuck", Payload: "helpful:no"}}}}}, nil
	case m.Payload == "helpful:yes":
		return concierge.Reply{Messages: []concierge.Outgoing{{Sender: concierge.SenderBot, Text: "Great! Anything else?"}}}, nil
	}
	return echoBot{}.Respond(ctx, t)
}

// inFrame wraps a JavaScript expression so that it runs against the chat window's
// document (the iframe is same-origin with the demo page here).
func inFrame(expr string) string {
	return `(() => { const f = document.getElementById('concierge-frame'); const d = f && f.contentDocument;
		if (!d || !d.getElementById('log')) return false; return (` + expr + `); })()`
}

func poll(t *testing.T, ctx context.Context, what, expr string) {
	t.Helper()
	if _, err := chromedp.Run(ctx, chromedp.Poll[bool](inFrame(expr), chromedp.WithPollingTimeout(20*time.Second))); err != nil {
		t.Fatalf("waiting for %s: %v", what, err)
	}
}

func eval[T any](t *testing.T, ctx context.Context, expr string) T {
	t.Helper()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[T](inFrame(expr)))
	if err != nil {
		t.Fatalf("evaluate %s: %v", expr, err)
	}
	return v
}

// typeInto types text into the chat window's input with real key events and presses Enter.
func typeInto(t *testing.T, ctx context.Context, text string) {
	t.Helper()
	frames, err := chromedp.Run(ctx, chromedp.Nodes(chromedp.CSS("#concierge-frame")))
	if err != nil || len(frames) == 0 {
		t.Fatalf("chat frame not found: %v", err)
	}
	if err := chromedp.Do(ctx, chromedp.SendKeys(chromedp.CSS("#input"), text, chromedp.FromNode(frames[0])), enter); err != nil {
		t.Fatalf("type %q: %v", text, err)
	}
}

// enter presses Enter as a browser does for a page that handles it on keydown: SendKeys'
// "\n" also sends a char event that would add a newline after the page sent the message.
var enter = chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
	for _, typ := range []input.DispatchKeyEventType{input.DispatchKeyEventTypeRawKeyDown, input.DispatchKeyEventTypeKeyUp} {
		if _, err := cdp.Call(ctx, t, input.DispatchKeyEvent, input.DispatchKeyEventParams{Type: typ, Key: "Enter",
			Code: "Enter", WindowsVirtualKeyCode: 13, NativeVirtualKeyCode: 13}); err != nil {
			return err
		}
	}
	return nil
})

func TestWidgetInChromium(t *testing.T) {
	s := newTestServer(t, nil)
	s.gw.SetResponder(demoBot{})
	ctx := browsertest.New(t)
	t.Cleanup(func() {
		if t.Failed() {
			if b, err := chromedp.Run(ctx, chromedp.CaptureScreenshot()); err == nil {
				dir := os.Getenv("CONCIERGE_TEST_ARTIFACTS")
				if dir == "" {
					dir = os.TempDir()
				}
				p := filepath.Join(dir, "widget-failure.png")
				if os.WriteFile(p, b, 0o644) == nil {
					t.Logf("screenshot of the failing page: %s", p)
				}
			}
			v, _ := chromedp.Run(ctx, chromedp.Evaluate[string](inFrame(`d.getElementById('log').innerText`)))
			t.Log("chat log:\n" + v)
		}
	})

	// The demo page with the launcher; opening it shows the chat window.
	if err := chromedp.Do(ctx, chromedp.Navigate(s.http.URL+"/"),
		chromedp.WaitVisible(chromedp.ID("concierge-launcher")),
		chromedp.Click(chromedp.ID("concierge-launcher")),
		chromedp.WaitVisible(chromedp.ID("concierge-frame"))); err != nil {
		t.Fatal(err)
	}
	poll(t, ctx, "the greeting after connecting", `d.querySelector('.msg-bot') !== null`)
	if label, _ := chromedp.Run(ctx, chromedp.AttributeValue(chromedp.ID("concierge-launcher"), "aria-expanded")); label.Value != "true" {
		t.Fatalf("launcher aria-expanded = %q after opening, want true", label.Value)
	}

	typeInto(t, ctx, "How do I add a custom domain?")
	poll(t, ctx, "the bot's answer with quick replies",
		`d.querySelectorAll('.msg-bot').length === 2 && d.querySelectorAll('#choices .chip').length === 2`)
	if got := eval[string](t, ctx, `d.querySelectorAll('.msg-bot')[1].querySelector('strong').textContent`); got != "Settings → Domains" {
		t.Fatalf("bot answer's HTML not rendered: strong = %q", got)
	}
	if got := eval[string](t, ctx, `d.querySelectorAll('.msg-bot')[1].querySelector('a').target`); got != "_blank" {
		t.Fatalf("links in answers open in %q, want a new tab", got)
	}
	if path := os.Getenv("CONCIERGE_SCREENSHOT"); path != "" {
		// Regenerates docs/img/widget.png: CONCIERGE_SCREENSHOT=$PWD/docs/img/widget.png go test ./channels/web -run Chromium
		png, err := chromedp.Run(ctx, chromedp.CaptureScreenshot())
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, png, 0o644); err != nil {
			t.Fatal(err)
		}
	}

	// A quick reply sends its payload; the chips go away.
	if err := chromedp.Do(ctx, chromedp.Evaluate[chromedp.Void](inFrame(`d.querySelector('#choices .chip').click(), true`))); err != nil {
		t.Fatal(err)
	}
	poll(t, ctx, "the answer to the quick reply", `[...d.querySelectorAll('.msg-bot')].some(e => e.textContent.includes('Great! Anything else?'))`)

	// Markup typed by the visitor is shown as text and never runs.
	xss := `<img src=x onerror="window.top.__xss=1">`
	typeInto(t, ctx, xss)
	poll(t, ctx, "the echo of the markup", `[...d.querySelectorAll('.msg-bot')].some(e => e.textContent.includes('echo: <img'))`)
	if n := eval[int](t, ctx, `d.querySelectorAll('#log img').length`); n != 0 {
		t.Fatalf("%d img elements in the chat: user text reached innerHTML", n)
	}
	if got := eval[bool](t, ctx, `[...d.querySelectorAll('.msg-user')].some(e => e.textContent === `+"`"+xss+"`"+`)`); !got {
		t.Fatal("the visitor's markup is not shown as its literal text")
	}
	// An agent's message is text too, even if it carries markup.
	if n := s.ch.Connections(); n != 1 {
		t.Fatalf("%d widget connections, want 1", n)
	}
	conv := s.visitorConversation(t, ctx)
	if _, err := s.gw.Send(ctx, conv, concierge.Outgoing{Sender: concierge.SenderAgent, SenderName: "Ana",
		Text: "<b>bold</b> claim", HTML: "<b>bold</b> claim"}); err != nil {
		t.Fatal(err)
	}
	poll(t, ctx, "the agent's message", `[...d.querySelectorAll('.msg-agent')].some(e => e.textContent.includes('<b>bold</b> claim'))`)
	if n := eval[int](t, ctx, `d.querySelectorAll('#log b').length`); n != 0 {
		t.Fatal("an agent's markup was rendered as HTML")
	}
	if xssRan := eval[bool](t, ctx, `window.top.__xss === 1 || f.contentWindow.__xss === 1`); xssRan {
		t.Fatal("the visitor's onerror handler ran")
	}

	// The satisfaction survey is a 1–5 rating with an optional comment.
	var survey []concierge.QuickReply
	for n := '1'; n <= '5'; n++ {
		survey = append(survey, concierge.QuickReply{Label: string(n), Payload: "csat:" + string(n)})
	}
	if _, err := s.gw.Send(ctx, conv, concierge.Outgoing{Sender: concierge.SenderSystem,
		Text: "Ana closed the conversation. How did we do?", QuickReplies: survey}); err != nil {
		t.Fatal(err)
	}
	poll(t, ctx, "the rating row", `d.querySelectorAll('.rating .stars .chip').length === 5 && d.querySelector('.rating textarea') !== null`)
	if err := chromedp.Do(ctx, chromedp.Evaluate[chromedp.Void](inFrame(`d.querySelectorAll('.rating .stars .chip')[3].click(),
		d.querySelector('.rating textarea').value = 'quick and kind', d.querySelector('.rating > .chip').click(), true`))); err != nil {
		t.Fatal(err)
	}
	poll(t, ctx, "the rating in the chat, acknowledged", `[...d.querySelectorAll('.msg-user:not(.pending)')].some(e => e.textContent.includes('★★★★☆'))`)
	rated, err := s.store.Messages(ctx, conv, 0, 100, false)
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, r := range rated {
		found = found || r.Sender == concierge.SenderUser && r.Payload == "csat:4" && r.Text == "quick and kind"
	}
	if !found {
		t.Fatalf("no rating csat:4 with its comment among %+v", rated)
	}

	// Reload: the visitor and the history are still there.
	if err := chromedp.Do(ctx, chromedp.Reload(),
		chromedp.WaitVisible(chromedp.ID("concierge-launcher"))); err != nil {
		t.Fatal(err)
	}
	// A reply while the window is closed raises the launcher's unread badge.
	poll(t, ctx, "the chat window to reconnect after the reload", `d.querySelectorAll('.msg-agent').length === 1`)
	if _, err := s.gw.Send(ctx, conv, concierge.Outgoing{Sender: concierge.SenderAgent, SenderName: "Ana", Text: "Are you still there?"}); err != nil {
		t.Fatal(err)
	}
	if _, err := chromedp.Run(ctx, chromedp.Poll[bool](`document.getElementById('concierge-badge').textContent === '1'`,
		chromedp.WithPollingTimeout(20*time.Second))); err != nil {
		t.Fatalf("unread badge: %v", err)
	}
	if err := chromedp.Do(ctx, chromedp.Click(chromedp.ID("concierge-launcher")), chromedp.WaitVisible(chromedp.ID("concierge-frame"))); err != nil {
		t.Fatal(err)
	}
	poll(t, ctx, "the whole history after the reload",
		`d.querySelectorAll('.msg-user').length === 4 && [...d.querySelectorAll('.msg')].some(e => e.textContent.includes('Are you still there?'))`)
	if _, err := chromedp.Run(ctx, chromedp.Poll[bool](`document.getElementById('concierge-badge').style.display === 'none'`,
		chromedp.WithPollingTimeout(10*time.Second))); err != nil {
		t.Fatalf("the badge stays after opening the chat: %v", err)
	}
	// Escape closes the window and gives the focus back to the launcher.
	if err := chromedp.Do(ctx, chromedp.KeyEvent(kb.Escape), chromedp.WaitNotVisible(chromedp.ID("concierge-frame"))); err != nil {
		t.Fatalf("escape did not close the chat: %v", err)
	}
	if id, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`document.activeElement.id`)); id != "concierge-launcher" {
		t.Fatalf("focus on %q after closing, want the launcher", id)
	}

	// reset (a logout) forgets the visitor: a new token and an empty chat.
	oldToken, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`localStorage.getItem('concierge_visitor')`))
	if err := chromedp.Do(ctx, chromedp.Evaluate[chromedp.Void](`Concierge('reset'), Concierge('open')`),
		chromedp.WaitVisible(chromedp.ID("concierge-frame"))); err != nil {
		t.Fatal(err)
	}
	poll(t, ctx, "a fresh chat after reset", `d.querySelectorAll('.msg').length === 1 && d.querySelector('.msg-bot') !== null`)
	if _, err := chromedp.Run(ctx, chromedp.Poll[bool](`(t => t && t !== `+"`"+oldToken+"`"+`)(localStorage.getItem('concierge_visitor'))`,
		chromedp.WithPollingTimeout(20*time.Second))); err != nil {
		t.Fatalf("no new visitor token after reset: %v", err)
	}

	// Opened directly (a support link), in Chinese, the chat window works on its own.
	if err := chromedp.Do(ctx, chromedp.Navigate(s.http.URL+"/widget/frame?locale=zh"),
		chromedp.WaitVisible(chromedp.CSS(".msg-bot"))); err != nil {
		t.Fatal(err)
	}
	if ph, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`document.getElementById('input').placeholder`)); ph != "输入消息…" {
		t.Fatalf("placeholder %q, want the Chinese one", ph)
	}
	if err := chromedp.Do(ctx, chromedp.SendKeys(chromedp.CSS("#input"), "你好"), enter); err != nil {
		t.Fatal(err)
	}
	if _, err := chromedp.Run(ctx, chromedp.Poll[bool](`[...document.querySelectorAll('.msg-bot')].some(e => e.textContent.includes('echo: 你好'))`,
		chromedp.WithPollingTimeout(20*time.Second))); err != nil {
		t.Fatalf("standalone window got no answer: %v", err)
	}
}

// visitorConversation finds the page's visitor by the token the loader kept in the host
// page's localStorage, and returns their current conversation.
func (s *testServer) visitorConversation(t *testing.T, ctx context.Context) int64 {
	t.Helper()
	token, err := chromedp.Run(ctx, chromedp.Evaluate[string](`localStorage.getItem('concierge_visitor')`))
	if err != nil || !strings.HasPrefix(token, tokenPrefix) {
		t.Fatalf("visitor token on the host page: %q, %v", token, err)
	}
	contact, err := s.store.ContactByExternal(ctx, ChannelName, VisitorKey(token))
	if err != nil {
		t.Fatal(err)
	}
	conv, err := s.store.LatestConversation(ctx, contact.ID)
	if err != nil {
		t.Fatal(err)
	}
	return conv.ID
}
