package browsertest

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/chromedp/chromedp"
)

func TestChromiumRunsScriptsAndReadsTheDOM(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, `<!doctype html><title>t</title><p id="out"></p><script>document.getElementById('out').textContent = 6 * 7</script>`)
	}))
	defer srv.Close()
	ctx := New(t)
	OnFailure(t, ctx)
	if err := chromedp.Do(ctx, chromedp.Navigate(srv.URL)); err != nil {
		t.Fatal(err)
	}
	got, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS("#out")))
	if err != nil {
		t.Fatal(err)
	}
	if got != "42" {
		t.Fatalf("page computed %q, want 42: scripts do not run", got)
	}
}
