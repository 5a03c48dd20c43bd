package bot

import (
	"strings"
	"unicode"
)

// Intents the bot recognises without searching the knowledge base.
const (
	talkNone     = ""
	talkGreeting = "greeting"
	talkThanks   = "thanks"
	talkGoodbye  = "goodbye"
	talkBot      = "are_you_bot"
	talkHowAreU  = "how_are_you"
	talkAck      = "ack"
)

// smallTalk phrases per intent, all languages together (a Chinese customer may say "hi").
// Matching is on the whole message once punctuation, the bot's name and fillers are
// removed, so "hi, my card is blocked" is a question, not a greeting.
var smallTalk = map[string][]string{
	talkGreeting: {"hi", "hello", "hey", "hiya", "hi there", "hello there", "hey there", "good morning", "good afternoon",
		"good evening", "greetings", "yo", "howdy", "你好", "您好", "嗨", "哈喽", "早上好", "下午好", "晚上好", "在吗", "在么", "有人吗",
		"こんにちは", "こんばんは", "おはようございます", "はじめまして", "안녕하세요", "안녕", "hola", "bonjour", "hallo", "olá", "ola"},
	talkThanks: {"thanks", "thank you", "thx", "ty", "thanks a lot", "thank you so much", "many thanks", "cheers", "great thanks",
		"ok thanks", "ok thank you", "thanks that helped", "perfect thanks", "谢谢", "多谢", "感谢", "谢谢你", "谢谢您", "好的谢谢", "非常感谢",
		"ありがとう", "ありがとうございます", "감사합니다", "고맙습니다", "gracias", "merci", "danke", "obrigado", "obrigada"},
	talkGoodbye: {"bye", "goodbye", "bye bye", "see you", "see ya", "good bye", "that's all", "thats all", "that is all", "nothing else",
		"no thanks", "no thank you", "再见", "拜拜", "没有了", "没事了", "さようなら", "失礼します", "안녕히 계세요", "adiós", "au revoir", "tschüss"},
	talkBot: {"are you a bot", "are you a robot", "are you human", "are you a human", "are you real", "are you a real person",
		"is this a bot", "am i talking to a bot", "am i talking to a robot", "is this automated", "who are you", "what are you",
		"你是机器人吗", "你是机器人么", "你是真人吗", "你是人吗", "是机器人吗", "你是谁", "ボットですか", "ロボットですか", "봇인가요", "로봇이에요"},
	talkHowAreU: {"how are you", "how are you doing", "how's it going", "hows it going", "你好吗", "お元気ですか", "잘 지내세요"},
	talkAck:     {"ok", "okay", "k", "kk", "alright", "all right", "sure", "cool", "got it", "i see", "好", "好的", "嗯", "行", "知道了", "明白了", "わかりました", "알겠습니다"},
}

var smallTalkIndex = func() map[string]string {
	m := map[string]string{}
	for intent, list := range smallTalk {
		for _, p := range list {
			m[normalizePhrase(p)] = intent
		}
	}
	return m
}()

// normalizePhrase lowercases, drops punctuation and emoji, folds apostrophes and
// repeated letters' noise ("hiii" stays; "hi!!" → "hi") and collapses spaces.
func normalizePhrase(s string) string {
	var b strings.Builder
	space := false
	for _, r := range strings.ToLower(s) {
		switch {
		case r == '\'' || r == '’':
			continue
		case unicode.IsLetter(r) || unicode.IsDigit(r):
			if space && b.Len() > 0 {
				b.WriteByte(' ')
			}
			space = false
			b.WriteRune(r)
		default:
			space = true
		}
	}
	return b.String()
}

// detectSmallTalk returns the small-talk intent of a message, or talkNone. botName is
// stripped ("thanks Concierge").
func detectSmallTalk(text, botName string) string {
	n := normalizePhrase(text)
	if botName != "" {
		bn := normalizePhrase(botName)
		n = strings.TrimSpace(strings.TrimSuffix(strings.TrimPrefix(n, bn+" "), " "+bn))
	}
	if intent, ok := smallTalkIndex[n]; ok {
		return intent
	}
	// "hi there, thanks!" or "ok thanks bye": every part small talk; the last one decides.
	for _, lead := range []string{"ok ", "okay ", "oh ", "great ", "perfect ", "nice ", "好的", "嗯"} {
		if rest, ok := strings.CutPrefix(n, lead); ok {
			if intent, ok := smallTalkIndex[strings.TrimSpace(rest)]; ok {
				return intent
			}
		}
	}
	return talkNone
}

// Requests for a person. Strong phrases count anywhere in a message; weak words only in
// a short message ("agent please", "人工"), so "my travel agent booked it" is a question.
var (
	humanStrong = []string{"talk to a human", "talk to a person", "speak to a human", "speak to a person", "speak with a human",
		"speak with a person", "talk to someone", "speak to someone", "speak with someone", "talk to an agent", "speak to an agent",
		"talk with an agent", "speak with an agent", "real person", "real human", "live agent", "live person", "live chat",
		"human agent", "customer service representative", "connect me to", "transfer me to", "put me through",
		"i want a human", "i want a person", "i want an agent", "need a human", "need a person", "need an agent",
		"转人工", "人工客服", "人工服务", "找人工", "要人工", "真人客服", "转接人工", "接人工", "联系客服", "找客服",
		"オペレーター", "担当者と話", "人と話したい", "상담원 연결", "상담원과", "사람과 이야기", "상담사 연결"}
	humanWeak = map[string]bool{"agent": true, "human": true, "person": true, "representative": true, "operator": true,
		"someone": true, "support": true, "staff": true, "rep": true, "人工": true, "客服": true, "真人": true, "オペレーター": true,
		"担当者": true, "상담원": true, "상담사": true, "please": true, "pls": true, "plz": true, "a": true, "an": true, "to": true,
		"me": true, "i": true, "want": true, "need": true, "talk": true, "speak": true, "with": true, "now": true, "the": true,
		"get": true, "can": true, "could": true, "real": true, "connect": true, "请": true, "我要": true, "我想": true, "找": true, "转": true}
	humanCore = map[string]bool{"agent": true, "human": true, "person": true, "representative": true, "operator": true,
		"rep": true, "人工": true, "客服": true, "真人": true, "オペレーター": true, "担当者": true, "상담원": true, "상담사": true}
)

// asksForHuman reports whether the message asks for a person.
func asksForHuman(text string) bool {
	n := normalizePhrase(text)
	for _, p := range humanStrong {
		if strings.Contains(n, normalizePhrase(p)) {
			return true
		}
	}
	words := strings.Fields(n)
	if len(words) == 0 || len(words) > 6 {
		return false
	}
	core := false
	for _, w := range words {
		switch {
		case humanCore[w]:
			core = true
		case humanWeak[w]:
		default:
			// CJK messages have no spaces: "请转人工客服" is one word; look inside.
			if !cjkAllHuman(w) {
				return false
			}
			core = true
		}
	}
	return core
}

func cjkAllHuman(w string) bool {
	if strings.IndexFunc(w, isCJK) < 0 {
		return false
	}
	rest := w
	for _, p := range []string{"人工客服", "人工", "客服", "真人", "请", "我要", "我想", "找", "转", "吧", "呢", "啊", "谢谢"} {
		rest = strings.ReplaceAll(rest, p, "")
	}
	return rest == "" && w != rest
}

// Frustration signals.
var (
	profanity = []string{"fuck", "fucking", "shit", "shitty", "bullshit", "crap", "damn", "wtf", "asshole", "bastard",
		"idiot", "stupid bot", "useless bot", "piss", "妈的", "他妈", "傻逼", "操你", "卧槽", "垃圾", "滚", "混蛋", "くそ", "クソ", "씨발", "개새"}
	negative = []string{"terrible", "awful", "horrible", "useless", "ridiculous", "worst", "angry", "furious", "frustrated",
		"frustrating", "annoyed", "annoying", "disappointed", "unacceptable", "pathetic", "hate", "not helpful", "doesnt help",
		"doesn't help", "not what i asked", "you dont understand", "you don't understand", "waste of time", "fed up", "sick of",
		"scam", "rip off", "ripoff", "太差", "没用", "生气", "失望", "气死", "烦死", "无语", "不满意", "坑人", "骗子", "答非所问",
		"最悪", "ひどい", "최악", "화가"}
	positive = []string{"thanks", "thank you", "great", "perfect", "awesome", "love", "excellent", "helpful", "谢谢", "太好了", "感谢", "棒"}
)

// Sentiment labels.
const (
	sentimentNegative = "negative"
	sentimentNeutral  = "neutral"
	sentimentPositive = "positive"
)

// mood reads one message: its sentiment and whether it is abusive or shouted.
type mood struct {
	sentiment string
	profane   bool
	shouting  bool
	negatives int
}

func readMood(text string) mood {
	lower := strings.ToLower(text)
	words := " " + normalizePhrase(text) + " "
	var m mood
	for _, p := range profanity {
		if containsTerm(lower, words, p) {
			m.profane = true
			break
		}
	}
	for _, p := range negative {
		if containsTerm(lower, words, p) {
			m.negatives++
		}
	}
	pos := 0
	for _, p := range positive {
		if containsTerm(lower, words, p) {
			pos++
		}
	}
	m.shouting = isShouting(text)
	switch {
	case m.profane || m.shouting || m.negatives > 0:
		m.sentiment = sentimentNegative
	case pos > 0:
		m.sentiment = sentimentPositive
	default:
		m.sentiment = sentimentNeutral
	}
	return m
}

// containsTerm matches Latin terms as whole words and CJK terms as substrings.
func containsTerm(lower, words, term string) bool {
	if strings.IndexFunc(term, isCJK) >= 0 {
		return strings.Contains(lower, term)
	}
	return strings.Contains(words, " "+normalizePhrase(term)+" ")
}

// isShouting: a message of some length written mostly in capitals, or with a run of
// exclamation marks.
func isShouting(text string) bool {
	if strings.Contains(text, "!!!") || strings.Contains(text, "！！！") {
		return true
	}
	var letters, upper int
	for _, r := range text {
		if unicode.IsLetter(r) && r < unicode.MaxLatin1 {
			letters++
			if unicode.IsUpper(r) {
				upper++
			}
		}
	}
	return letters >= 12 && upper*10 >= letters*7
}

// overlap is the Jaccard overlap of two messages' stem sets (see stemSet; 0 when either
// has fewer than two): a repeat of the same question scores near 1.
func overlap(sa, sb map[string]bool) float64 {
	if len(sa) < 2 || len(sb) < 2 {
		return 0
	}
	inter := 0
	for w := range sa {
		if sb[w] {
			inter++
		}
	}
	return float64(inter) / float64(len(sa)+len(sb)-inter)
}

// stemSet is the set of a message's word stems (CJK: characters), a contraction counted
// as its verb and "not".
func stemSet(s string) map[string]bool {
	m := map[string]bool{}
	for _, t := range tokenize(s) {
		// "doesn't" and "does not" are the same words.
		if base, ok := strings.CutSuffix(t.raw, "nt"); ok && contractions[t.raw] {
			m[stem(strings.TrimSuffix(base, "n"))] = true
			m["not"] = true
			continue
		}
		m[t.stem] = true
	}
	return m
}

var contractions = map[string]bool{"dont": true, "doesnt": true, "didnt": true, "cant": true, "isnt": true, "wont": true,
	"arent": true, "wasnt": true, "werent": true, "havent": true, "hasnt": true, "couldnt": true, "wouldnt": true, "shouldnt": true}

// Follow-up cues: a short message starting with one of these continues the last topic.
var followUpCues = []string{"and ", "what about ", "how about ", "also ", "but ", "same for ", "same on ", "what if ", "and if ",
	"还有", "那", "那么", "如果", "另外", "それと", "じゃあ", "그럼", "그리고"}

func isFollowUp(text string) bool {
	n := normalizePhrase(text)
	if len(strings.Fields(n)) > 8 || len([]rune(n)) > 40 {
		return false
	}
	for _, c := range followUpCues {
		if strings.HasPrefix(n+" ", c) {
			return true
		}
	}
	return false
}
