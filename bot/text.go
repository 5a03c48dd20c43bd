package bot

import (
	"strings"
	"unicode"

	porter "github.com/blevesearch/go-porterstemmer"
)

// token is one word of a message: its lowercased surface form and, for Latin-script
// words, its stem. CJK text has no spaces, so each run of Han, kana or Hangul characters
// becomes one token per character (bigrams are formed later from neighbours).
type token struct {
	raw  string
	stem string
	cjk  bool
}

// tokenize splits text into words. Stop words are kept on purpose: in support questions
// "not", "how", "my", "can't" carry the intent ("my card is not working" vs "how does the
// card work"). Apostrophes are dropped inside words so "isn't" and "isnt" meet.
func tokenize(text string) []token {
	var out []token
	var word []rune
	flush := func() {
		if len(word) == 0 {
			return
		}
		raw := string(word)
		out = append(out, token{raw: raw, stem: stem(raw)})
		word = word[:0]
	}
	for _, r := range strings.ToLower(text) {
		switch {
		case isCJK(r):
			flush()
			out = append(out, token{raw: string(r), stem: string(r), cjk: true})
		case unicode.IsLetter(r) || unicode.IsDigit(r) || unicode.Is(unicode.Mn, r):
			word = append(word, r)
		case (r == '\'' || r == '’') && len(word) > 0:
			// inside a word: skip the apostrophe
		default:
			flush()
		}
	}
	flush()
	return out
}

// stem reduces an English word to its Porter stem; other scripts and numbers pass through.
func stem(w string) string {
	for _, r := range w {
		if r > unicode.MaxASCII {
			return w
		}
	}
	if len(w) <= 2 {
		return w
	}
	return porter.StemString(w)
}

func isCJK(r rune) bool {
	return unicode.Is(unicode.Han, r) || unicode.Is(unicode.Hiragana, r) ||
		unicode.Is(unicode.Katakana, r) || unicode.Is(unicode.Hangul, r)
}
