package kb

import (
	"strings"
	"testing"
)

func TestRenderHTMLIsSafe(t *testing.T) {
	md := "# Title\n\nHello <script>alert(1)</script> **bold** [x](javascript:alert(1)) " +
		"<img src=x onerror=alert(1)> <a href=\"https://ok.example\" onclick=\"evil()\">ok</a>\n\n" +
		"<iframe src=\"https://evil.example\"></iframe>\n\n| a | b |\n|---|---|\n| 1 | 2 |\n"
	got := RenderHTML(md)
	for _, bad := range []string{"<script", "javascript:", "onerror", "onclick", "<iframe", "alert(1)</script"} {
		if strings.Contains(strings.ToLower(got), bad) {
			t.Errorf("RenderHTML kept %q:\n%s", bad, got)
		}
	}
	for _, good := range []string{"<h1 id=\"title\">Title</h1>", "<strong>bold</strong>", "<table>", `href="https://ok.example"`, `rel="nofollow`} {
		if !strings.Contains(got, good) {
			t.Errorf("RenderHTML lost %q:\n%s", good, got)
		}
	}
}

func TestRenderText(t *testing.T) {
	md := "# Reset\n\nOpen the [sign-in page](https://example.com/login), then *click* `Forgot`.\n\n" +
		"1. First\n2. Second\n\n- a\n- b <b>bold</b>\n\nSee https://example.com/help.\n\n<div>block <script>x()</script></div>\n"
	want := "Reset\n\nOpen the sign-in page (https://example.com/login), then click Forgot.\n\n" +
		"1. First\n2. Second\n\n- a\n- b bold\n\nSee https://example.com/help.\n\nblock"
	if got := RenderText(md); got != want {
		t.Fatalf("RenderText:\n%q\nwant\n%q", got, want)
	}
}

func TestSnippetKeepsOnlyMark(t *testing.T) {
	got := sanitizeSnippet(`a <mark>b</mark> <img src=x onerror=alert(1)> &lt;c&gt;`)
	if got != `a <mark>b</mark>  &lt;c&gt;` {
		t.Fatalf("sanitizeSnippet: %q", got)
	}
}
