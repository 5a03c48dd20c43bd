package editor_test

import (
	"context"
	"iter"

	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"
)

var pageDialogOpening = page.JavascriptDialogOpening

func acceptDialogs(ctx context.Context, dialogs iter.Seq2[page.EventJavascriptDialogOpening, error]) {
	for _, err := range dialogs {
		if err != nil {
			return
		}
		chromedp.Call(ctx, page.HandleJavaScriptDialog, page.HandleJavaScriptDialogParams{Accept: true})
	}
}
