package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/conciergehq/concierge/internal/browsertest"
)

// addAgent creates an account in a data directory with the agent command, as an operator would.
func addAgent(t *testing.T, dir, email, name, role, password string) {
	t.Helper()
	var out bytes.Buffer
	args := []string{"agent", "add", "--data", dir, "--email", email, "--name", name, "--role", role, "--log-level", "warn"}
	if code := run(context.Background(), args, strings.NewReader(password+"\n"), &out, &out); code != 0 {
		t.Fatalf("agent add %s: exit %d: %s", email, code, out.String())
	}
}

// panelPoll waits for a JavaScript condition in the agent panel's page.
func panelPoll(t *testing.T, ctx context.Context, what, expr string) {
	t.Helper()
	if _, err := chromedp.Run(ctx, chromedp.Poll[bool](expr, chromedp.WithPollingTimeout(20*time.Second))); err != nil {
		page, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`document.body.innerText`))
		t.Fatalf("panel: waiting for %s: %v\npanel:\n%s", what, err, page)
	}
}

func panelDo(t *testing.T, ctx context.Context, what string, actions ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	if err := chromedp.Do(ctx, actions...); err != nil {
		t.Fatalf("panel: %s: %v", what, err)
	}
}

// The product as shipped, in one browser: a customer on the demo page asks the bot, then
// asks for a person in the widget; an agent signs in to the panel, sees the conversation
// queued with the transcript (bot turns marked) and the escalation reason, claims it; they
// type and chat both ways; the agent closes it; the customer rates 5 in the widget and the
// rating shows in the panel. Nothing here is a test double: serve wires the real web
// channel, triage bot, demo KB, handoff and panel.
func TestEndToEndFromTheWidgetToTheAgentPanel(t *testing.T) {
	dir := t.TempDir()
	addAgent(t, dir, "ana@example.com", "Ana", "agent", "ana's long password")
	// Pooled: agents claim from the queue (auto-assignment would hand it to Ana on sign-in).
	cfg := filepath.Join(dir, "concierge.yaml")
	if err := os.WriteFile(cfg, []byte("handoff:\n  teams:\n    - name: general\n      assignment: pooled\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	base, stop := startServeIn(t, dir, "--config", cfg)
	defer stop()

	ctx := browsertest.New(t)
	browsertest.OnFailure(t, ctx)
	if err := chromedp.Do(ctx, chromedp.Navigate(base+"/"),
		chromedp.WaitVisible(chromedp.ID("concierge-launcher")),
		chromedp.Click(chromedp.ID("concierge-launcher")),
		chromedp.WaitVisible(chromedp.ID("concierge-frame"))); err != nil {
		t.Fatal(err)
	}
	// Connected: the greeting appears once the server welcomed this visitor.
	framePoll(t, ctx, "the chat window, connected", `d.querySelectorAll('#log .msg-bot').length > 0`)
	frameType(t, ctx, "I forgot my password and cannot sign in")
	framePoll(t, ctx, "the bot's answer", `[...d.querySelectorAll('.msg-bot a')].some(a => a.getAttribute('href').endsWith('/help/reset-password'))`)
	frameType(t, ctx, "I want to talk to a human")
	framePoll(t, ctx, "the queue position", `[...d.querySelectorAll('.msg-system')].some(e => /queue/i.test(e.textContent))`)

	// The agent, in another tab of the same browser.
	panel, cancel := chromedp.NewContext(ctx)
	defer cancel()
	panelDo(t, panel, "open the panel and sign in", chromedp.Navigate(base+"/agent"),
		chromedp.WaitVisible(chromedp.CSS("#login-form")),
		browsertest.Type(`document.querySelector('#email')`, "ana@example.com"),
		browsertest.Type(`document.querySelector('#password')`, "ana's long password"),
		chromedp.Click(chromedp.CSS("#sign-in")),
		chromedp.WaitVisible(chromedp.CSS("#tab-queue")))
	panelDo(t, panel, "open the queue", chromedp.Click(chromedp.CSS("#tab-queue")))
	panelPoll(t, panel, "the queued conversation", `!!document.querySelector('.item[data-id]')`)
	panelDo(t, panel, "open the conversation", chromedp.Evaluate[chromedp.Void](`document.querySelector('.item[data-id]').click()`))
	panelPoll(t, panel, "the transcript with the bot's turns marked",
		`document.querySelectorAll('#transcript .msg-bot').length >= 2 &&
		 [...document.querySelectorAll('#transcript .msg-user')].some(e => e.textContent.includes('forgot my password'))`)
	panelPoll(t, panel, "the escalation reason", `document.querySelector('#reason') && document.querySelector('#reason').textContent === 'asked_for_human'`)

	panelDo(t, panel, "claim", browsertest.Click(`document.querySelector('#claim')`))
	framePoll(t, ctx, "the customer told who joined", `[...d.querySelectorAll('.msg-system')].some(e => e.textContent.includes('Ana'))`)
	// The view is redrawn as assigned; type only into the redrawn composer.
	panelPoll(t, panel, "the conversation shown as assigned", `document.querySelector('#conv-status') && document.querySelector('#conv-status').textContent === 'assigned' && !!document.querySelector('#composer')`)

	// Typing, both ways.
	panelDo(t, panel, "the agent types", browsertest.Type(`document.querySelector('#composer')`, "Hi, Ana here. Let me check your account"))
	framePoll(t, ctx, "the agent typing shown to the customer", `!d.getElementById('typing').hidden`)
	if err := chromedp.Do(ctx, browsertest.Type(chatInput, "still locked")); err != nil {
		t.Fatal(err)
	}
	panelPoll(t, panel, "the customer typing shown to the agent", `document.querySelector('#typing').textContent.length > 0`)

	// Messages, both ways.
	panelDo(t, panel, "send", browsertest.Click(`document.querySelector('#send')`))
	framePoll(t, ctx, "the agent's message with the agent's name",
		`[...d.querySelectorAll('.msg-agent')].some(e => e.textContent.includes('Let me check your account') && e.textContent.includes('Ana'))`)
	if err := chromedp.Do(ctx, browsertest.PressEnter(chatInput)); err != nil {
		t.Fatal(err)
	}
	panelPoll(t, panel, "the customer's reply", `[...document.querySelectorAll('#transcript .msg-user')].some(e => e.textContent.includes('still locked'))`)

	// Close; the customer rates 5 in the widget; the rating shows in the panel.
	panelDo(t, panel, "close", browsertest.Click(`document.querySelector('#close')`), chromedp.WaitVisible(chromedp.CSS("#close-dialog")),
		chromedp.SetValue(chromedp.CSS("#resolution"), "resolved"),
		browsertest.Click(`document.querySelector('#close-dialog-ok')`))
	framePoll(t, ctx, "the rating row", `d.querySelectorAll('.rating .stars .chip').length === 5`)
	if err := chromedp.Do(ctx, chromedp.Evaluate[chromedp.Void](inChat(
		`d.querySelectorAll('.rating .stars .chip')[4].click(), d.querySelector('.rating textarea').value = 'fast and kind', d.querySelector('.rating > .chip').click(), true`))); err != nil {
		t.Fatal(err)
	}
	framePoll(t, ctx, "the rating acknowledged", `[...d.querySelectorAll('.msg-user:not(.pending)')].some(e => e.textContent.includes('★★★★★'))`)
	panelPoll(t, panel, "the rating in the panel", `document.querySelector('#rating') && document.querySelector('#rating').textContent.includes('5/5')`)
}
