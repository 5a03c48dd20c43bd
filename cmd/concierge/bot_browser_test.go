package main

import (
	"context"
	"os"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/conciergehq/concierge/internal/browsertest"
)

// The whole product in a browser: the demo page's widget, the web channel, the gateway,
// the triage bot and the bundled demo KB. A question gets the article rendered as HTML
// with its help-page link and the "Did this help?" buttons; "Yes" closes it.
func TestWidgetVisitorGetsAnAnswerFromTheBotInChromium(t *testing.T) {
	base, stop := startServe(t)
	defer stop()
	ctx := browsertest.New(t)
	if err := chromedp.Do(ctx, chromedp.Navigate(base+"/"),
		chromedp.WaitVisible(chromedp.ID("concierge-launcher")),
		chromedp.Click(chromedp.ID("concierge-launcher")),
		chromedp.WaitVisible(chromedp.ID("concierge-frame"))); err != nil {
		t.Fatal(err)
	}
	// Connected: the greeting appears once the server welcomed this visitor.
	framePoll(t, ctx, "the chat window, connected", `d.querySelectorAll('#log .msg-bot').length > 0`)
	frameType(t, ctx, "I forgot my password and cannot sign in")
	framePoll(t, ctx, "the bot's answer with its link and the Yes/No buttons",
		`[...d.querySelectorAll('.msg-bot a')].some(a => a.getAttribute('href').endsWith('/help/reset-password')) &&
		 d.querySelectorAll('#choices .chip').length === 2`)
	if path := os.Getenv("CONCIERGE_SCREENSHOT"); path != "" {
		if png, err := chromedp.Run(ctx, chromedp.CaptureScreenshot()); err == nil {
			os.WriteFile(path, png, 0o644)
		}
	}
	if err := chromedp.Do(ctx, chromedp.Evaluate[chromedp.Void](inChat(`d.querySelector('#choices .chip').click(), true`))); err != nil {
		t.Fatal(err)
	}
	framePoll(t, ctx, "the closing line after Yes", `[...d.querySelectorAll('.msg-bot')].some(e => e.textContent.includes('glad I could help'))`)
}

func inChat(expr string) string {
	return `(() => { const f = document.getElementById('concierge-frame'); const d = f && f.contentDocument;
		if (!d || !d.getElementById('log')) return false; return (` + expr + `); })()`
}

func framePoll(t *testing.T, ctx context.Context, what, expr string) {
	t.Helper()
	if _, err := chromedp.Run(ctx, chromedp.Poll[bool](inChat(expr), chromedp.WithPollingTimeout(20*time.Second))); err != nil {
		log, _ := chromedp.Run(ctx, chromedp.Evaluate[string](inChat(`d.getElementById('log').innerText`)))
		t.Fatalf("waiting for %s: %v\nchat:\n%s", what, err, log)
	}
}

func frameType(t *testing.T, ctx context.Context, text string) {
	t.Helper()
	if err := chromedp.Do(ctx, browsertest.Type(chatInput, text), browsertest.PressEnter(chatInput)); err != nil {
		t.Fatalf("type %q: %v", text, err)
	}
}

// chatInput is the widget's text box inside its (same-origin) iframe.
const chatInput = `document.getElementById('concierge-frame').contentDocument.getElementById('input')`
