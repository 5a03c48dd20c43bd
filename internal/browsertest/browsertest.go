// Package browsertest starts a real headless Chromium for UI tests (widget, agent panel,
// KB editor) and drives it with chromedp.
//
// Chromium comes from Debian's "chromium" package. When it is missing and the tests run
// as root on a machine with apt-get, it is installed once (serialised across test
// processes with a lock file); otherwise the test fails saying how to install it.
package browsertest

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

var candidates = []string{"chromium", "chromium-browser", "google-chrome", "headless-shell"}

var (
	findOnce sync.Once
	found    string
	findErr  error
)

// Path returns the Chromium executable, installing Debian's package when possible.
func Path() (string, error) {
	findOnce.Do(func() { found, findErr = locate() })
	return found, findErr
}

func locate() (string, error) {
	if p := os.Getenv("CONCIERGE_CHROMIUM"); p != "" {
		return p, nil
	}
	if p := lookup(); p != "" {
		return p, nil
	}
	if os.Geteuid() != 0 {
		return "", fmt.Errorf("browsertest: no Chromium found; install it with: sudo apt-get install -y chromium")
	}
	if _, err := exec.LookPath("apt-get"); err != nil {
		return "", fmt.Errorf("browsertest: no Chromium found and no apt-get to install it; set CONCIERGE_CHROMIUM to a Chrome or Chromium binary")
	}
	lock, err := os.OpenFile(filepath.Join(os.TempDir(), "concierge-chromium-install.lock"), os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return "", fmt.Errorf("browsertest: %w", err)
	}
	defer lock.Close()
	if err := syscall.Flock(int(lock.Fd()), syscall.LOCK_EX); err != nil {
		return "", fmt.Errorf("browsertest: lock: %w", err)
	}
	defer syscall.Flock(int(lock.Fd()), syscall.LOCK_UN)
	if p := lookup(); p != "" { // another test process installed it while we waited
		return p, nil
	}
	cmd := exec.Command("apt-get", "install", "-y", "--no-install-recommends", "chromium")
	cmd.Env = append(os.Environ(), "DEBIAN_FRONTEND=noninteractive")
	if out, err := cmd.CombinedOutput(); err != nil {
		// The package lists may be missing on a fresh machine.
		if upd, uerr := exec.Command("apt-get", "update").CombinedOutput(); uerr != nil {
			return "", fmt.Errorf("browsertest: apt-get update: %v\n%s", uerr, upd)
		}
		if out, err = exec.Command("apt-get", "install", "-y", "--no-install-recommends", "chromium").CombinedOutput(); err != nil {
			return "", fmt.Errorf("browsertest: apt-get install chromium: %v\n%s", err, out)
		}
	}
	if p := lookup(); p != "" {
		return p, nil
	}
	return "", fmt.Errorf("browsertest: chromium installed but not found on PATH")
}

func lookup() string {
	for _, c := range candidates {
		if p, err := exec.LookPath(c); err == nil {
			return p
		}
	}
	return ""
}

// New starts a fresh headless Chromium (its own profile directory) for the test and
// returns a chromedp context for one tab. chromedp here is the generic API (v0.20+): see
// docs/API.md in the module — chromedp.Do runs value-less actions, chromedp.Run one action
// returning its value, and a plain string selector is a search (use chromedp.CSS(...) for CSS). Everything is torn down when the test ends.
// Actions on the context time out after a minute so a stuck page fails the test
// instead of hanging it.
func New(t testing.TB) context.Context {
	t.Helper()
	path, err := Path()
	if err != nil {
		t.Fatal(err)
	}
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(path),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.Headless,
		chromedp.NoSandbox, // tests run as root in CI containers
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck,
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.Flag("disable-extensions", true),
		chromedp.Flag("mute-audio", true),
		chromedp.WindowSize(1280, 900),
	}
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelTab := chromedp.NewContext(actx, chromedp.WithLogf(t.Logf))
	tctx, cancelTimeout := context.WithTimeout(ctx, 3*time.Minute)
	if err := chromedp.Do(tctx); err != nil { // starts the browser and opens the tab
		cancelTimeout()
		cancelTab()
		cancelAlloc()
		t.Fatalf("browsertest: start chromium: %v", err)
	}
	t.Cleanup(func() {
		cancelTimeout()
		cancelTab()
		cancelAlloc()
	})
	return tctx
}

// Screenshot saves a PNG of the current page to path (for docs, or to look at a failure).
func Screenshot(ctx context.Context, path string) error {
	buf, err := chromedp.Run(ctx, chromedp.FullScreenshot(100)) // 100 makes a PNG; lower qualities are JPEG
	if err != nil {
		return fmt.Errorf("browsertest: screenshot: %w", err)
	}
	return os.WriteFile(path, buf, 0o644)
}

// OnFailure saves a screenshot into the test's output directory when the test fails, and
// names the file in the log, so a failed UI test leaves something to look at.
func OnFailure(t testing.TB, ctx context.Context) {
	t.Cleanup(func() {
		if !t.Failed() {
			return
		}
		dir := os.Getenv("CONCIERGE_TEST_ARTIFACTS")
		if dir == "" {
			dir = os.TempDir()
		}
		p := filepath.Join(dir, fmt.Sprintf("%s-%d.png", filepath.Base(t.Name()), time.Now().UnixNano()))
		shotCtx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		if err := Screenshot(shotCtx, p); err == nil {
			t.Logf("screenshot of the failing page: %s", p)
		}
	})
}

// Type focuses the element a JavaScript expression returns (it may reach into a
// same-origin iframe), appends text to its value and fires the input event a keyboard
// would. It is deterministic where CDP key events are not: chromedp.SendKeys' node
// bookkeeping races with DOM updates under the race detector, and keyboard focus moves
// into an iframe asynchronously, so early key events land in the host page.
func Type(el, text string) chromedp.Action[chromedp.Void] {
	js := fmt.Sprintf(`(el => { el.focus(); el.value += %s; el.dispatchEvent(new Event('input', {bubbles: true})); })(%s)`,
		jsString(text), el)
	return chromedp.Evaluate[chromedp.Void](js)
}

// Click waits until the element a JavaScript expression returns exists and is enabled,
// then clicks it, in one step inside the page. chromedp.Click resolves a node first and
// clicks it in later round trips; a page that redraws on server events (the agent panel)
// can replace the node in between, and the click fails with "Could not find node".
func Click(el string) chromedp.Action[chromedp.Void] {
	return chromedp.Poll[chromedp.Void](`(el => !!el && !el.disabled && (el.click(), true))(` + el + `)`)
}

// PressEnter sends the element a keydown of Enter, as a page that submits on Enter sees it.
func PressEnter(el string) chromedp.Action[chromedp.Void] {
	return chromedp.Evaluate[chromedp.Void](`(el => el.dispatchEvent(new KeyboardEvent('keydown',
		{key: 'Enter', code: 'Enter', keyCode: 13, bubbles: true, cancelable: true})))(` + el + `)`)
}

func jsString(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}
