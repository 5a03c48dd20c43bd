package bot

import (
	"strings"
	"unicode"
)

// DetectLanguage guesses the language of one message from its scripts: Hangul is Korean,
// any kana makes it Japanese (Japanese mixes kana with Han), Han alone is Chinese,
// Cyrillic Russian, Arabic Arabic, Thai Thai, and Latin text is English unless its
// common words say Spanish, French, German or Portuguese. It returns "" when the message
// has too few letters to tell (a number, an e-mail address, "ok"), so the caller keeps
// the conversation's language.
func DetectLanguage(text string) string {
	text = withoutIdentifiers(text)
	var han, kana, hangul, latin, cyr, arabic, thai int
	for _, r := range text {
		switch {
		case unicode.Is(unicode.Hangul, r):
			hangul++
		case unicode.Is(unicode.Hiragana, r), unicode.Is(unicode.Katakana, r):
			kana++
		case unicode.Is(unicode.Han, r):
			han++
		case unicode.Is(unicode.Cyrillic, r):
			cyr++
		case unicode.Is(unicode.Arabic, r):
			arabic++
		case unicode.Is(unicode.Thai, r):
			thai++
		case unicode.Is(unicode.Latin, r):
			latin++
		}
	}
	cjk := han + kana + hangul
	switch {
	case hangul > 0 && hangul >= kana && hangul*2 >= cjk:
		return "ko"
	case kana > 0:
		return "ja"
	case han > 0 && han*3 >= latin/2:
		// A Han character carries about as much as a short Latin word.
		return "zh"
	case cyr > latin && cyr >= 3:
		return "ru"
	case arabic > latin && arabic >= 3:
		return "ar"
	case thai > latin && thai >= 3:
		return "th"
	case latin >= 4:
		return latinLanguage(text)
	}
	return ""
}

// Frequent function words of Latin-script languages; two hits are needed to leave English.
var latinWords = map[string][]string{
	"es": {"el", "la", "los", "las", "que", "por", "para", "como", "mi", "tarjeta", "cuenta", "no", "es", "una", "hola", "gracias", "puedo", "dónde", "qué", "cómo", "está"},
	"fr": {"le", "la", "les", "des", "est", "je", "mon", "ma", "pas", "pour", "avec", "une", "bonjour", "merci", "comment", "carte", "compte", "où", "vous", "ne"},
	"de": {"der", "die", "das", "ist", "ich", "mein", "meine", "nicht", "und", "mit", "für", "wie", "hallo", "danke", "karte", "konto", "kann", "ein", "eine", "wo"},
	"pt": {"o", "os", "as", "que", "não", "meu", "minha", "para", "com", "uma", "olá", "obrigado", "obrigada", "cartão", "conta", "como", "posso", "onde", "está", "você"},
}

var englishWords = map[string]bool{"the": true, "my": true, "i": true, "is": true, "to": true, "a": true, "how": true,
	"what": true, "can": true, "do": true, "not": true, "you": true, "it": true, "and": true, "for": true, "why": true,
	"card": true, "account": true, "hello": true, "hi": true, "thanks": true, "please": true, "where": true, "me": true}

func latinLanguage(text string) string {
	words := strings.FieldsFunc(strings.ToLower(text), func(r rune) bool { return !unicode.IsLetter(r) })
	best, bestN := "en", 0
	en := 0
	for _, w := range words {
		if englishWords[w] {
			en++
		}
	}
	for lang, list := range latinWords {
		n := 0
		for _, w := range words {
			for _, x := range list {
				if w == x {
					n++
					break
				}
			}
		}
		if n > bestN || (n == bestN && n > 0 && lang < best) {
			best, bestN = lang, n
		}
	}
	if bestN >= 2 && bestN > en {
		return best
	}
	return "en"
}

// baseLang reduces a BCP-47 tag to its language ("zh-Hans-CN" → "zh", "pt-BR" → "pt").
func baseLang(tag string) string {
	tag = strings.ToLower(strings.TrimSpace(tag))
	if i := strings.IndexAny(tag, "-_"); i > 0 {
		tag = tag[:i]
	}
	return tag
}

// withoutIdentifiers drops words that are identifiers, not language: e-mail addresses,
// URLs, order numbers and codes (anything with a digit, '@' or '/').
func withoutIdentifiers(text string) string {
	words := strings.Fields(text)
	kept := words[:0]
	for _, w := range words {
		if !strings.ContainsAny(w, "@/0123456789") || strings.IndexFunc(w, isCJK) >= 0 {
			kept = append(kept, w)
		}
	}
	return strings.Join(kept, " ")
}
