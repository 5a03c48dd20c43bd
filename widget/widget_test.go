package widget

import (
	"bytes"
	"compress/gzip"
	"sort"
	"strings"
	"testing"
)

func gzipSize(t *testing.T, b []byte) int {
	t.Helper()
	var buf bytes.Buffer
	zw, _ := gzip.NewWriterLevel(&buf, gzip.BestCompression)
	if _, err := zw.Write(b); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Len()
}

// The widget loads on every page of a customer's site: the loader must stay tiny and the
// chat window light. Budgets from the issue: loader ≤ 4 KB gzipped, the whole chat UI
// (HTML + CSS + JS) ≤ 25 KB gzipped.
func TestWeightBudget(t *testing.T) {
	const loaderBudget, uiBudget = 4 << 10, 25 << 10
	files := Files()
	names := make([]string, 0, len(files))
	for n := range files {
		names = append(names, n)
	}
	sort.Strings(names)
	ui := 0
	for _, n := range names {
		size := gzipSize(t, files[n])
		t.Logf("%-18s %6d bytes, %5d gzipped", n, len(files[n]), size)
		if n != "loader.js" {
			ui += size
		}
	}
	loader := gzipSize(t, files["loader.js"])
	t.Logf("loader %d B gzipped (budget %d), chat UI %d B gzipped (budget %d)", loader, loaderBudget, ui, uiBudget)
	if loader > loaderBudget {
		t.Errorf("loader.js is %d bytes gzipped, over the %d byte budget", loader, loaderBudget)
	}
	if ui > uiBudget {
		t.Errorf("the chat UI is %d bytes gzipped, over the %d byte budget", ui, uiBudget)
	}
	for _, want := range []string{"pages/frame.html", "ui/chat.js", "ui/chat.css", "ui/view.js", "ui/i18n.js"} {
		if _, ok := files[want]; !ok {
			t.Errorf("%s missing from the measured files", want)
		}
	}
}

func TestLoaderHasTheDefaultsMarker(t *testing.T) {
	if !bytes.Contains(Loader(), []byte(DefaultsMarker)) {
		t.Fatalf("loader.js lost %s; the server fills the defaults in there", DefaultsMarker)
	}
}

func TestFrameTemplateEscapesSettings(t *testing.T) {
	var buf bytes.Buffer
	err := Frame.Execute(&buf, FrameData{Lang: "en", Title: `<script>alert(1)</script>`, Accent: "#2563eb", Assets: "/widget/assets/x/"})
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(buf.String(), "<script>alert(1)") {
		t.Fatal("the title reached the page unescaped")
	}
}
