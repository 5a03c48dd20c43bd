package editor_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/conciergehq/concierge/internal/browsertest"
	"github.com/conciergehq/concierge/kb"
)

// TestEditorInBrowser drives the editor in headless Chromium: create an article with a
// live preview, publish it, edit it, and restore the first version from the history.
func TestEditorInBrowser(t *testing.T) {
	f := newFixture(t)
	ctx := browsertest.New(t)
	browsertest.OnFailure(t, ctx)
	css := func(s string) chromedp.CSS { return chromedp.CSS(s) }

	// waitFor polls a JavaScript condition in the page (what the user would wait for).
	waitFor := func(what, js string) {
		t.Helper()
		if _, err := chromedp.Run(ctx, chromedp.Poll[bool](js, chromedp.WithPollingTimeout(15*time.Second))); err != nil {
			t.Fatalf("waiting for %s (%s): %v", what, js, err)
		}
	}
	do := func(what string, actions ...chromedp.Action[chromedp.Void]) {
		t.Helper()
		if err := chromedp.Do(ctx, actions...); err != nil {
			t.Fatalf("%s: %v", what, err)
		}
	}
	// Accept the confirm() dialogs (none expected, but never hang on one).
	dialogs := chromedp.Events(ctx, pageDialogOpening)
	go acceptDialogs(ctx, dialogs)

	do("open the editor with the admin token", chromedp.Navigate(f.srv.URL+"/kb?token="+token))
	waitFor("the article list", `!!document.querySelector('#articles tbody')`)

	do("start a new article", chromedp.Click(css("#new-article")), chromedp.WaitVisible(css("#f-title")))
	do("fill in the form",
		chromedp.SendKeys(css("#f-title"), "Rotate API keys"),
		chromedp.SendKeys(css("#f-questions"), "how do I rotate my api key"),
		chromedp.SendKeys(css("#f-body"), "## Steps\n\nCreate a **new key**, then revoke the old one.\n<img src=x onerror=\"window.pwned=1\">"),
	)
	waitFor("the live preview", `(document.querySelector('#preview h2')||{}).textContent === 'Steps' && !!document.querySelector('#preview strong')`)
	if v, _ := chromedp.Run(ctx, chromedp.Evaluate[bool](`document.querySelector('#preview img[onerror]') !== null || window.pwned === 1`)); v {
		t.Fatal("the preview kept an event handler")
	}
	if id, _ := chromedp.Run(ctx, chromedp.Value(css("#f-id"))); id != "rotate-api-keys" {
		t.Fatalf("id suggested from the title: %q", id)
	}

	do("save the draft", chromedp.Click(css("#save")))
	waitFor("the saved draft", `location.hash === '#/edit/rotate-api-keys' && !document.querySelector('#publish').hidden`)
	a, err := f.kb.Get(context.Background(), "rotate-api-keys")
	if err != nil || a.Status != kb.StatusDraft || a.Version != 1 || a.Questions[0] != "how do I rotate my api key" {
		t.Fatalf("stored after save: %+v, %v", a, err)
	}

	do("publish", chromedp.Click(css("#publish")))
	waitFor("the published state", `document.querySelector('#publish').hidden && !document.querySelector('#unpublish').hidden`)
	if hits, _ := f.kb.Search(context.Background(), kb.Query{Text: "rotate api key"}); len(hits) == 0 || hits[0].ID != "rotate-api-keys" {
		t.Fatalf("the published article does not answer: %+v", hits)
	}

	do("edit the body",
		chromedp.Evaluate[chromedp.Void](`document.querySelector('#f-body').select()`),
		chromedp.SendKeys(css("#f-body"), "Keys now rotate automatically."),
	)
	waitFor("the preview of the edit", `document.querySelector('#preview').textContent.includes('rotate automatically')`)
	do("save the edit", chromedp.Click(css("#save")))
	waitFor("the saved edit", `document.querySelector('#state').textContent.includes('3')`)
	if a, _ := f.kb.Get(context.Background(), "rotate-api-keys"); a.Version != 3 || !strings.Contains(a.Body, "automatically") {
		t.Fatalf("after the edit: %+v", a)
	}

	do("open the history", chromedp.Click(css("#history")))
	waitFor("the version list", `document.querySelectorAll('#versions tbody tr').length === 3`)
	do("compare version 1", chromedp.Click(css(`#versions tr[data-version="1"] .diff-btn`)))
	waitFor("the diff", `[...document.querySelectorAll('#diff .del')].some(e => e.textContent.includes('new key'))`)
	do("restore version 1", chromedp.Click(css(`#versions tr[data-version="1"] .restore-btn`)))
	waitFor("the restored version", `document.querySelectorAll('#versions tbody tr').length === 4`)
	a, _ = f.kb.Get(context.Background(), "rotate-api-keys")
	if a.Version != 4 || !strings.Contains(a.Body, "new key") || a.Status != kb.StatusDraft {
		t.Fatalf("after restoring version 1: %+v", a)
	}

	do("try a question", chromedp.Click(css(`a[data-nav="try"]`)), chromedp.WaitVisible(css("#try-q")),
		chromedp.SendKeys(css("#try-q"), "rotate my key"), chromedp.Click(css("#try-drafts")), chromedp.Click(css("#try-go")))
	waitFor("the hits", `(document.querySelector('#try-results tr.hit')||{dataset:{}}).dataset.id === 'rotate-api-keys'`)
}
