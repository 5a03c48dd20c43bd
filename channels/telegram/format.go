package telegram

import (
	"strings"
	"unicode/utf16"
	"unicode/utf8"

	"github.com/conciergehq/concierge"
)

// maxText is Telegram's limit for one message's text, in characters after entity
// parsing. Telegram counts UTF-16 code units (an emoji outside the BMP counts two).
const maxText = 4096

// htmlEscaper escapes what Telegram's HTML parse mode requires: &, < and >. Everything
// else, quotes included, is literal text there.
var htmlEscaper = strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;")

func escapeHTML(s string) string { return htmlEscaper.Replace(s) }

// part is one Telegram message of a rendered Message: HTML for parse_mode=HTML, and the
// same words as plain text should Telegram refuse the markup.
type part struct {
	html  string
	plain string
}

// render turns a stored message into Telegram messages. It uses the plain-text form:
// Message.HTML is made for the web widget and may hold tags Telegram refuses. Agent
// messages are signed with the agent's name, system notices are set in italics, and
// text longer than Telegram allows is split on paragraph boundaries.
func render(m concierge.Message) []part {
	text := strings.TrimSpace(m.Text)
	if text == "" {
		return nil
	}
	var header, headerPlain string
	if m.Sender == concierge.SenderAgent {
		name := strings.TrimSpace(m.SenderName)
		if name == "" {
			name = "Support"
		}
		header, headerPlain = "<b>"+escapeHTML(name)+"</b>\n", name+":\n"
	}
	chunks := split(text, maxText-utf16Len(headerPlain))
	parts := make([]part, 0, len(chunks))
	for i, c := range chunks {
		h := escapeHTML(c)
		if m.Sender == concierge.SenderSystem {
			h = "<i>" + h + "</i>"
		}
		p := part{html: h, plain: c}
		if i == 0 {
			p.html, p.plain = header+p.html, headerPlain+p.plain
		}
		parts = append(parts, p)
	}
	return parts
}

// split cuts text into pieces of at most limit UTF-16 units, preferring to cut between
// paragraphs, then between lines, then after a sentence, then between words; only a
// single unbroken run longer than limit is cut mid-word (never inside a character).
func split(text string, limit int) []string {
	var out []string
	for utf16Len(text) > limit {
		end := prefixWithin(text, limit)
		if end == 0 { // a limit narrower than one character: take the character
			_, end = utf8.DecodeRuneInString(text)
		}
		cut := end
		for _, sep := range separators {
			// The separator may straddle the limit; only its kept part must fit.
			window := text[:min(end-sep.keep+len(sep.s), len(text))]
			if i := strings.LastIndex(window, sep.s); i > 0 {
				cut = i + len(sep.s)
				break
			}
		}
		if piece := strings.TrimRight(text[:cut], " \n"); piece != "" {
			out = append(out, piece)
		}
		text = strings.TrimLeft(text[cut:], " \n")
	}
	if strings.TrimSpace(text) != "" {
		out = append(out, text)
	}
	return out
}

// separators are where a long text may be cut, best first; keep is how many bytes of the
// separator stay with the piece before the cut (the full stop, not the space).
var separators = []struct {
	s    string
	keep int
}{{"\n\n", 0}, {"\n", 0}, {". ", 1}, {"! ", 1}, {"? ", 1}, {"。", len("。")}, {" ", 0}}

// prefixWithin returns the byte length of the longest prefix of s that is at most limit
// UTF-16 units long.
func prefixWithin(s string, limit int) int {
	n := 0
	for i, r := range s {
		w := utf16.RuneLen(r)
		if w < 0 {
			w = 1
		}
		if n+w > limit {
			return i
		}
		n += w
	}
	return len(s)
}

func utf16Len(s string) int {
	n := 0
	for _, r := range s {
		if w := utf16.RuneLen(r); w > 0 {
			n += w
		} else {
			n++
		}
	}
	return n
}

// truncate shortens s to at most n runes, marking the cut.
func truncate(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	r := []rune(s)
	return string(r[:n-1]) + "…"
}
