package panel_test

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/conciergehq/concierge"
	"github.com/conciergehq/concierge/internal/browsertest"
)

const xss = `<img src=x onerror="window.__xss=1"><script>window.__xss=2</script>`

// waitJS polls a JavaScript expression in the page until it is true.
func waitJS(t *testing.T, ctx context.Context, what, expr string) {
	t.Helper()
	wctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	if _, err := chromedp.Run(wctx, chromedp.Poll[bool](expr, chromedp.WithPollingInterval(50*time.Millisecond))); err != nil {
		body, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`document.body.innerText`))
		t.Fatalf("%s: %v (waited for %s)\npage:\n%s", what, err, expr, body)
	}
}

func text(t *testing.T, ctx context.Context, css string) string {
	t.Helper()
	v, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(css)))
	if err != nil {
		t.Fatalf("text of %s: %v", css, err)
	}
	return v
}

func do(t *testing.T, ctx context.Context, what string, actions ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	if err := chromedp.Do(ctx, actions...); err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}

// TestAgentHandlesAnEscalationEndToEnd is the whole journey in a real browser: a customer
// asks for a human, an agent signs in, sees the queued conversation with transcript and
// details, claims it, they chat both ways with typing indicators, the agent closes it,
// the customer rates 5 and the rating shows in the panel — in a second tab too. The
// customer's name and messages carry XSS payloads that must stay text.
func TestAgentHandlesAnEscalationEndToEnd(t *testing.T) {
	r := newRig(t, nil)
	r.account("ana@example.com", "Ana", []string{"general"}, "agent")

	// The customer talks to the bot, then asks for a person.
	id := r.say("visitor-1", "Eve "+xss, "Where is my order ORD-77?", "")
	r.expect("Orders usually ship")
	r.say("visitor-1", "Eve "+xss, "I want to talk to a human", "")
	r.expect("connect you with a person")
	r.waitStatus(id, concierge.StatusQueued)
	r.expect("number 1")

	ctx := browstertestNew(t)
	// Signing in: the panel sends us to the login page first.
	do(t, ctx, "open the panel", chromedp.Navigate(r.srv.URL+"/agent"), chromedp.WaitVisible(chromedp.CSS("#login-form")))
	do(t, ctx, "sign in",
		chromedp.SendKeys(chromedp.CSS("#email"), "ana@example.com"),
		chromedp.SendKeys(chromedp.CSS("#password"), "panel test password"),
		chromedp.Click(chromedp.CSS("#sign-in")),
		chromedp.WaitVisible(chromedp.CSS("#tab-queue")))

	// The queue shows the conversation; opening it shows transcript and details.
	do(t, ctx, "open the queue", chromedp.Click(chromedp.CSS("#tab-queue")))
	waitJS(t, ctx, "queued conversation listed", `!!document.querySelector('.item[data-id="`+itoa(id)+`"]')`)
	if got := text(t, ctx, `.item[data-id="`+itoa(id)+`"] .name`); !strings.Contains(got, "<img src=x") {
		t.Fatalf("customer name shown as %q, want the payload as text", got)
	}
	do(t, ctx, "open the conversation", chromedp.Click(chromedp.CSS(`.item[data-id="`+itoa(id)+`"]`)))
	waitJS(t, ctx, "transcript", `document.querySelectorAll('#transcript .msg').length >= 4`)
	if n, _ := chromedp.Run(ctx, chromedp.Evaluate[int](`document.querySelectorAll('#transcript .msg-bot').length`)); n != 2 {
		t.Fatalf("%d bot turns marked, want 2", n)
	}
	if got := text(t, ctx, "#detail-list"); !strings.Contains(got, "order_number") || !strings.Contains(got, "ORD-77") {
		t.Fatalf("details %q, want order_number ORD-77", got)
	}
	if got := text(t, ctx, "#reason"); got != "asked_for_human" {
		t.Fatalf("reason %q", got)
	}
	if got := text(t, ctx, "#candidates"); !strings.Contains(got, "Shipping times") {
		t.Fatalf("candidates %q", got)
	}

	// A second tab on the same conversation stays consistent with the first.
	tab2, cancel2 := chromedp.NewContext(ctx)
	defer cancel2()
	do(t, tab2, "open a second tab", chromedp.Navigate(r.srv.URL+"/agent#c"+itoa(id)), chromedp.WaitVisible(chromedp.CSS("#claim")))

	// Claim: the customer is told who joined; both tabs show it assigned.
	do(t, ctx, "claim", browsertest.Click(`document.querySelector('#claim')`))
	r.expect("Ana joined the conversation")
	waitJS(t, ctx, "assigned in tab 1", `document.querySelector('#conv-status').textContent === 'assigned'`)
	waitJS(t, tab2, "assigned in tab 2", `document.querySelector('#conv-status') && document.querySelector('#conv-status').textContent === 'assigned'`)

	// Typing both ways.
	r.gw.Typing(context.Background(), id, concierge.Typing{Sender: concierge.SenderUser, On: true})
	waitJS(t, ctx, "customer typing shown", `document.querySelector('#typing').textContent.length > 0`)
	do(t, ctx, "agent types", browsertest.Type(`document.querySelector('#composer')`, "Hello Eve, let me check"))
	select {
	case <-r.customer.typing:
	case <-time.After(10 * time.Second):
		t.Fatal("the customer was never shown the agent typing")
	}
	do(t, ctx, "send", browsertest.Click(`document.querySelector('#send')`))
	if m := r.expect("Hello Eve, let me check"); m.Sender != concierge.SenderAgent || m.SenderName != "Ana" {
		t.Fatalf("agent message sent as %s %q", m.Sender, m.SenderName)
	}
	// The customer answers with a payload; it arrives live and stays text.
	r.say("visitor-1", "Eve "+xss, "thanks "+xss, "")
	waitJS(t, ctx, "customer reply shown", `[...document.querySelectorAll('#transcript .msg-user .body')].some(e => e.textContent.includes('thanks <img'))`)
	waitJS(t, tab2, "customer reply in tab 2", `[...document.querySelectorAll('#transcript .msg-user .body')].some(e => e.textContent.includes('thanks <img'))`)

	// An internal note is shown to agents and never sent.
	do(t, ctx, "note", browsertest.Click(`document.querySelector('#note-toggle')`), browsertest.Type(`document.querySelector('#composer')`, "VIP? check CRM"),
		browsertest.Click(`document.querySelector('#send')`))
	waitJS(t, ctx, "note shown", `[...document.querySelectorAll('#transcript .msg-note')].some(e => e.textContent.includes('check CRM'))`)
	do(t, ctx, "back to replies", browsertest.Click(`document.querySelector('#note-toggle')`))

	// Close as resolved with tags; the customer gets the survey and rates 5.
	do(t, ctx, "close", browsertest.Click(`document.querySelector('#close')`), chromedp.WaitVisible(chromedp.CSS("#close-dialog")),
		chromedp.SetValue(chromedp.CSS("#resolution"), "resolved"), chromedp.SendKeys(chromedp.CSS("#tags"), "shipping, late"),
		browsertest.Click(`document.querySelector('#close-dialog-ok')`))
	survey := r.expect("How would you rate")
	for _, m := range []string{"VIP? check CRM"} {
		if strings.Contains(survey.Text, m) {
			t.Fatal("a note reached the customer")
		}
	}
	r.waitStatus(id, concierge.StatusClosed)
	r.say("visitor-1", "Eve", "5", "csat:5")
	r.expect("Thank you for your feedback")
	waitJS(t, ctx, "rating shown", `document.querySelector('#rating') && document.querySelector('#rating').textContent.includes('5/5')`)
	waitJS(t, tab2, "rating shown in tab 2", `document.querySelector('#rating') && document.querySelector('#rating').textContent.includes('5/5')`)

	// No payload ran anywhere, and no customer markup became elements.
	for _, c := range []context.Context{ctx, tab2} {
		ran, err := chromedp.Run(c, chromedp.Evaluate[bool](`window.__xss !== undefined || document.querySelectorAll('#transcript img, .name img, #conv-title img, script:not([type=module])').length > 0`))
		if err != nil || ran {
			t.Fatalf("an XSS payload became markup or ran (err %v)", err)
		}
	}
}

// TestTwoAgentsClaimingAtOnceOneIsToldWhoWon drives the claim race through two browsers'
// worth of panels: the loser sees a clear message naming the winner.
func TestTwoAgentsClaimingAtOnceOneIsToldWhoWon(t *testing.T) {
	r := newRig(t, nil)
	r.account("ana@example.com", "Ana", []string{"general"}, "agent")
	bo := r.account("bo@example.com", "Bo", []string{"general"}, "agent")
	id := r.say("v2", "Sam", "I want to talk to a human", "")
	r.waitStatus(id, concierge.StatusQueued)

	ctx := browstertestNew(t)
	do(t, ctx, "sign in", chromedp.Navigate(r.srv.URL+"/login?next=/agent%23c"+itoa(id)),
		chromedp.SendKeys(chromedp.CSS("#email"), "ana@example.com"),
		chromedp.SendKeys(chromedp.CSS("#password"), "panel test password"),
		chromedp.Click(chromedp.CSS("#sign-in")), chromedp.WaitVisible(chromedp.CSS("#claim")))
	// Bo wins through the API a moment before Ana clicks.
	if _, err := r.svc.Claim(context.Background(), bo, id); err != nil {
		t.Fatal(err)
	}
	do(t, ctx, "Ana clicks claim", chromedp.Evaluate[chromedp.Void](`document.querySelector('#claim').click()`))
	waitJS(t, ctx, "loser told", `!!document.querySelector('#claim-error') && document.querySelector('#claim-error').textContent.includes('Bo has already taken')`)

	// The customer blocked the channel: Bo's reply fails for good, and Ana sees it.
	r.customer.mu.Lock()
	r.customer.fail = fmt.Errorf("bot was blocked by the user: %w", concierge.ErrUnreachable)
	r.customer.mu.Unlock()
	m, err := r.svc.Reply(context.Background(), bo, id, "Hi Sam, Bo here", false)
	if err != nil {
		t.Fatal(err)
	}
	waitJS(t, ctx, "delivery failure shown", `(() => { const d = document.querySelector('.msg[data-id="`+itoa(m.ID)+`"] .delivery'); return !!d && d.textContent.includes('blocked'); })()`)
	waitJS(t, ctx, "contact unreachable shown", `!!document.querySelector('#d-unreachable')`)

	// Canned responses: Ana saves one for her team and finds it with "/" in the composer.
	do(t, ctx, "open canned responses", chromedp.Click(chromedp.CSS("#canned-manage")), chromedp.WaitVisible(chromedp.CSS("#canned-dialog")),
		chromedp.SetValue(chromedp.CSS("#canned-team"), "general"),
		chromedp.SendKeys(chromedp.CSS("#canned-shortcut"), "thanks"),
		chromedp.SendKeys(chromedp.CSS("#canned-title"), "Thank you"),
		chromedp.SendKeys(chromedp.CSS("#canned-body"), "Thanks for your patience!"),
		chromedp.Click(chromedp.CSS("#canned-dialog-ok")))
	waitJS(t, ctx, "dialog closed", `!document.querySelector('#canned-dialog')`)
	do(t, ctx, "type a shortcut", browsertest.Type(`document.querySelector('#composer')`, "/tha"))
	waitJS(t, ctx, "canned suggestion", `!!document.querySelector('#canned-list button[data-shortcut="thanks"]')`)
	do(t, ctx, "pick it", browsertest.Click(`document.querySelector('#canned-list button[data-shortcut="thanks"]')`))
	waitJS(t, ctx, "canned text inserted", `document.querySelector('#composer').value === 'Thanks for your patience!'`)
}

func browstertestNew(t *testing.T) context.Context {
	ctx := browsertest.New(t)
	browsertest.OnFailure(t, ctx)
	return ctx
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }
