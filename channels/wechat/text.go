package wechat

import (
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/conciergehq/concierge"
)

// maxTextBytes is the longest text sent in one WeChat message. WeChat allows 2048 bytes of
// UTF-8 in a text reply (about 680 Chinese characters); the margin keeps us clear of
// 45002 "content too long".
const maxTextBytes = 2000

// render turns a stored message into the texts to send, in order: the plain text (never
// the HTML rendering), the agent's name in front of agent messages, links to attachments
// customers can open, and choices as numbered options. Long texts are split.
func render(m concierge.Message, lang string) []string {
	var b strings.Builder
	text := strings.TrimSpace(m.Text)
	if m.Sender == concierge.SenderAgent && m.SenderName != "" && text != "" {
		text = m.SenderName + ": " + text
	}
	b.WriteString(text)
	for _, a := range m.Attachments {
		var line string
		switch {
		case strings.HasPrefix(a.URL, "https://") || strings.HasPrefix(a.URL, "http://"):
			line = a.URL
			if a.Name != "" {
				line = a.Name + ": " + a.URL
			}
		case a.Kind == "image":
			continue // our own pictures are uploaded and sent as images
		default:
			// A file on our server: WeChat cannot carry it, and our link needs an agent's
			// login. Say so rather than drop it silently.
			line = unsendable(a.Name, lang)
		}
		if b.Len() > 0 {
			b.WriteString("\n")
		}
		b.WriteString(line)
	}
	if len(m.QuickReplies) > 0 {
		if b.Len() > 0 {
			b.WriteString("\n\n")
		}
		nums := optionNumbers(m.QuickReplies)
		for i, q := range m.QuickReplies {
			b.WriteString(strconv.Itoa(nums[i]))
			b.WriteString(". ")
			b.WriteString(q.Label)
			b.WriteString("\n")
		}
		b.WriteString(choiceHint(lang))
	}
	return splitText(b.String(), maxTextBytes)
}

func unsendable(name, lang string) string {
	if name == "" {
		name = "file"
	}
	if strings.HasPrefix(strings.ToLower(lang), "zh") {
		return "[文件 " + name + " 无法通过微信发送]"
	}
	return "[" + name + " cannot be sent over WeChat]"
}

func choiceHint(lang string) string {
	if strings.HasPrefix(strings.ToLower(lang), "zh") {
		return "请回复选项前的数字。"
	}
	return "Reply with the number of your choice."
}

// optionNumbers numbers choices 1, 2, 3… — except a satisfaction survey (payloads
// csat:1…csat:5), whose options carry their own rating, so that the digit a customer
// sends back is the rating whatever order the options were listed in.
func optionNumbers(qrs []concierge.QuickReply) []int {
	nums := make([]int, len(qrs))
	seen := map[int]bool{}
	for i, q := range qrs {
		n, err := strconv.Atoi(strings.TrimPrefix(q.Payload, "csat:"))
		if !strings.HasPrefix(q.Payload, "csat:") || err != nil || n < 1 || n > 9 || seen[n] {
			for i := range nums {
				nums[i] = i + 1
			}
			return nums
		}
		seen[n], nums[i] = true, n
	}
	return nums
}

// chosen returns the quick reply a customer picked by sending its number.
func chosen(qrs []concierge.QuickReply, text string) (concierge.QuickReply, bool) {
	n, ok := parseChoice(text)
	if !ok {
		return concierge.QuickReply{}, false
	}
	for i, num := range optionNumbers(qrs) {
		if num == n {
			return qrs[i], true
		}
	}
	return concierge.QuickReply{}, false
}

// parseChoice reads a bare option number: "2", " 2. ", "２" (full-width, as Chinese input
// methods type it), "2、".
func parseChoice(text string) (int, bool) {
	s := strings.TrimSpace(strings.Map(func(r rune) rune {
		if r >= '０' && r <= '９' {
			return '0' + (r - '０')
		}
		return r
	}, text))
	s = strings.TrimRight(s, ".)、．。） ")
	if s == "" || len(s) > 2 {
		return 0, false
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 0 {
		return 0, false
	}
	return n, true
}

// splitText cuts s into pieces of at most max bytes, preferring paragraph breaks, then
// line breaks, then sentence ends, then spaces, and never splitting a UTF-8 character.
func splitText(s string, max int) []string {
	s = strings.TrimSpace(s)
	var out []string
	for len(s) > max {
		cut := cutPoint(s, max)
		piece := strings.TrimSpace(s[:cut])
		if piece != "" {
			out = append(out, piece)
		}
		s = strings.TrimSpace(s[cut:])
	}
	if s != "" {
		out = append(out, s)
	}
	return out
}

// cutPoint picks where to end the first piece of s (longer than max bytes).
func cutPoint(s string, max int) int {
	window := s[:max]
	floor := max / 2 // never make a piece shorter than half the limit to find a nicer break
	if i := strings.LastIndex(window, "\n\n"); i >= floor {
		return i + 2
	}
	if i := strings.LastIndex(window, "\n"); i >= floor {
		return i + 1
	}
	best := -1
	for _, end := range []string{"。", "！", "？", ". ", "! ", "? ", "；", "; "} {
		if i := strings.LastIndex(window, end); i >= floor && i+len(end) > best {
			best = i + len(end)
		}
	}
	if best > 0 {
		return best
	}
	if i := strings.LastIndexFunc(window, unicode.IsSpace); i >= floor {
		return i + 1
	}
	cut := max
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut-- // s[cut] continues a character: end the piece before that character
	}
	if cut == 0 {
		return max // not UTF-8 at all: cut anywhere rather than loop
	}
	return cut
}
