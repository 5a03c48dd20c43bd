package kb

import (
	"bytes"
	"regexp"
	"strconv"
	"strings"
	"sync"

	"github.com/microcosm-cc/bluemonday"
	"github.com/yuin/goldmark"
	"github.com/yuin/goldmark/ast"
	"github.com/yuin/goldmark/extension"
	east "github.com/yuin/goldmark/extension/ast"
	"github.com/yuin/goldmark/parser"
	"github.com/yuin/goldmark/renderer/html"
	"github.com/yuin/goldmark/text"
)

// Markdown is rendered on the server only: goldmark parses (CommonMark + GitHub tables,
// strikethrough, autolinks), bluemonday's UGC policy removes scripts, event handlers,
// javascript: URLs and anything else that could run in the reader's page. Raw HTML in an
// article is let through goldmark and then sanitised, so harmless markup (<kbd>, <sup>)
// survives and everything else is dropped.
var (
	md = goldmark.New(
		goldmark.WithExtensions(extension.Table, extension.Strikethrough, extension.Linkify, extension.TaskList),
		goldmark.WithParserOptions(parser.WithAutoHeadingID()),
	)
	mdUnsafe = goldmark.New(
		goldmark.WithExtensions(extension.Table, extension.Strikethrough, extension.Linkify, extension.TaskList),
		goldmark.WithParserOptions(parser.WithAutoHeadingID()),
		goldmark.WithRendererOptions(html.WithUnsafe()),
	)
	policyOnce sync.Once
	policy     *bluemonday.Policy
	markOnly   *bluemonday.Policy
)

func sanitizer() *bluemonday.Policy {
	policyOnce.Do(func() {
		p := bluemonday.UGCPolicy()
		p.RequireNoFollowOnLinks(true)
		p.AddTargetBlankToFullyQualifiedLinks(true)
		p.AllowAttrs("id").Matching(regexp.MustCompile(`^[a-zA-Z0-9_-]+$`)).OnElements("h1", "h2", "h3", "h4", "h5", "h6")
		p.AllowAttrs("checked", "disabled").Matching(regexp.MustCompile(`^(|checked|disabled)$`)).OnElements("input")
		p.AllowAttrs("type").Matching(regexp.MustCompile(`^checkbox$`)).OnElements("input")
		policy = p
		m := bluemonday.NewPolicy()
		m.AllowElements("mark")
		markOnly = m
	})
	return policy
}

// RenderHTML renders Markdown to HTML that is safe to put in a page's innerHTML: scripts,
// event handlers, styles and dangerous URLs are removed.
func RenderHTML(markdown string) string {
	var buf bytes.Buffer
	if err := mdUnsafe.Convert([]byte(markdown), &buf); err != nil {
		// goldmark only fails on writer errors; a bytes.Buffer has none.
		return ""
	}
	return sanitizer().Sanitize(buf.String())
}

// sanitizeSnippet keeps only <mark> (the highlight) and escapes everything else.
func sanitizeSnippet(s string) string {
	sanitizer()
	return markOnly.Sanitize(s)
}

// RenderText renders Markdown as plain text for channels that show no HTML (Telegram,
// WeChat): paragraphs separated by blank lines, list items with "- " or "1. ", links as
// "text (url)", emphasis and HTML tags dropped, code kept as it is.
func RenderText(markdown string) string {
	src := []byte(markdown)
	doc := md.Parser().Parse(text.NewReader(src))
	var w textWriter
	w.src = src
	w.block(doc, "")
	return strings.TrimSpace(collapseBlankLines(w.buf.String()))
}

type textWriter struct {
	src []byte
	buf strings.Builder
}

// block writes the children of a block node, each block followed by a blank line.
func (w *textWriter) block(n ast.Node, indent string) {
	for c := n.FirstChild(); c != nil; c = c.NextSibling() {
		switch c := c.(type) {
		case *ast.List:
			i := c.Start
			if i == 0 {
				i = 1
			}
			for item := c.FirstChild(); item != nil; item = item.NextSibling() {
				marker := "- "
				if c.IsOrdered() {
					marker = strconv.Itoa(i) + ". "
					i++
				}
				w.buf.WriteString(indent + marker)
				var sub textWriter
				sub.src = w.src
				sub.block(item, "")
				lines := strings.Split(strings.TrimSpace(collapseBlankLines(sub.buf.String())), "\n")
				pad := strings.Repeat(" ", len(marker))
				for j, l := range lines {
					if j > 0 {
						w.buf.WriteString(indent + pad)
					}
					w.buf.WriteString(l + "\n")
				}
			}
			w.buf.WriteString("\n")
		case *ast.FencedCodeBlock, *ast.CodeBlock:
			lines := c.Lines()
			for i := 0; i < lines.Len(); i++ {
				seg := lines.At(i)
				w.buf.WriteString(indent + "    " + strings.TrimRight(string(seg.Value(w.src)), "\n") + "\n")
			}
			w.buf.WriteString("\n")
		case *ast.HTMLBlock:
			var b strings.Builder
			lines := c.Lines()
			for i := 0; i < lines.Len(); i++ {
				seg := lines.At(i)
				b.Write(seg.Value(w.src))
			}
			if t := strings.TrimSpace(stripTags(b.String())); t != "" {
				w.buf.WriteString(indent + t + "\n\n")
			}
		case *ast.ThematicBreak:
			w.buf.WriteString(indent + "---\n\n")
		case *ast.Blockquote:
			var sub textWriter
			sub.src = w.src
			sub.block(c, "")
			for _, l := range strings.Split(strings.TrimSpace(collapseBlankLines(sub.buf.String())), "\n") {
				w.buf.WriteString(indent + "> " + l + "\n")
			}
			w.buf.WriteString("\n")
		case *east.Table:
			for row := c.FirstChild(); row != nil; row = row.NextSibling() {
				var cells []string
				for cell := row.FirstChild(); cell != nil; cell = cell.NextSibling() {
					cells = append(cells, strings.TrimSpace(w.inline(cell)))
				}
				w.buf.WriteString(indent + strings.Join(cells, " | ") + "\n")
			}
			w.buf.WriteString("\n")
		default:
			if c.Type() == ast.TypeBlock && c.HasChildren() && c.FirstChild().Type() == ast.TypeBlock {
				w.block(c, indent)
				continue
			}
			t := strings.TrimSpace(w.inline(c))
			if t != "" {
				w.buf.WriteString(indent + t + "\n\n")
			}
		}
	}
}

// inline renders the inline content of n.
func (w *textWriter) inline(n ast.Node) string {
	var b strings.Builder
	for c := n.FirstChild(); c != nil; c = c.NextSibling() {
		switch c := c.(type) {
		case *ast.Text:
			b.Write(c.Value(w.src))
			switch {
			case c.HardLineBreak():
				b.WriteString("\n")
			case c.SoftLineBreak():
				b.WriteString(" ")
			}
		case *ast.String:
			b.Write(c.Value)
		case *ast.Link:
			label, url := w.inline(c), string(c.Destination)
			if label == "" || label == url {
				b.WriteString(url)
			} else {
				b.WriteString(label + " (" + url + ")")
			}
		case *ast.AutoLink:
			b.Write(c.URL(w.src))
		case *ast.Image:
			if alt := w.inline(c); alt != "" {
				b.WriteString(alt + " (" + string(c.Destination) + ")")
			} else {
				b.WriteString(string(c.Destination))
			}
		case *ast.RawHTML:
			// Tags are dropped; <br> becomes a line break.
			for i := 0; i < c.Segments.Len(); i++ {
				seg := c.Segments.At(i)
				if brRe.Match(seg.Value(w.src)) {
					b.WriteString("\n")
				}
			}
		case *east.TaskCheckBox:
			if c.IsChecked {
				b.WriteString("[x] ")
			} else {
				b.WriteString("[ ] ")
			}
		default:
			b.WriteString(w.inline(c))
		}
	}
	return b.String()
}

var (
	tagRe   = regexp.MustCompile(`(?s)<!--.*?-->|<script.*?</script>|<style.*?</style>|<[^>]*>`)
	brRe    = regexp.MustCompile(`(?i)^<br\s*/?>$`)
	blankRe = regexp.MustCompile(`\n{3,}`)
)

func stripTags(s string) string { return tagRe.ReplaceAllString(s, "") }

func collapseBlankLines(s string) string { return blankRe.ReplaceAllString(s, "\n\n") }
