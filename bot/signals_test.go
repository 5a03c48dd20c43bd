package bot

import "testing"

func TestSmallTalk(t *testing.T) {
	cases := []struct{ text, want string }{
		{"Hi!", talkGreeting},
		{"hello there :)", talkGreeting},
		{"你好", talkGreeting},
		{"在吗？", talkGreeting},
		{"안녕하세요", talkGreeting},
		{"thanks Concierge", talkThanks},
		{"Thank you so much!", talkThanks},
		{"ok thanks", talkThanks},
		{"谢谢！", talkThanks},
		{"bye", talkGoodbye},
		{"再见", talkGoodbye},
		{"Are you a bot?", talkBot},
		{"你是机器人吗？", talkBot},
		{"ok", talkAck},
		{"hi, my card is blocked", talkNone},
		{"thanks but it still does not work", talkNone},
		{"how do I reset my password", talkNone},
	}
	for _, c := range cases {
		if got := detectSmallTalk(c.text, "Concierge"); got != c.want {
			t.Errorf("detectSmallTalk(%q) = %q, want %q", c.text, got, c.want)
		}
	}
}

func TestAsksForHuman(t *testing.T) {
	yes := []string{"agent", "Agent please!", "human", "I want to talk to a human", "can I speak to someone",
		"real person please", "转人工", "人工客服", "请转人工", "人工", "我要人工客服", "オペレーター", "상담원 연결해 주세요", "representative"}
	no := []string{"my travel agent booked the ticket", "how do I add a person to my account", "human resources department address",
		"what is the support email for refunds", "my card is not working", "客服电话是多少号码呢请告诉我"}
	for _, s := range yes {
		if !asksForHuman(s) {
			t.Errorf("asksForHuman(%q) = false, want true", s)
		}
	}
	for _, s := range no {
		if asksForHuman(s) {
			t.Errorf("asksForHuman(%q) = true, want false", s)
		}
	}
}

func TestMood(t *testing.T) {
	cases := []struct {
		text              string
		sentiment         string
		profane, shouting bool
	}{
		{"my card does not work", sentimentNeutral, false, false},
		{"this is ridiculous, nothing works", sentimentNegative, false, false},
		{"WHY IS MY CARD STILL BLOCKED", sentimentNegative, false, true},
		{"what the fuck is going on", sentimentNegative, true, false},
		{"这服务太差了", sentimentNegative, false, false},
		{"垃圾客服", sentimentNegative, true, false},
		{"great, thanks!", sentimentPositive, false, false},
		{"I need my PIN for ATM", sentimentNeutral, false, false},
		{"hello???!!!", sentimentNegative, false, true},
	}
	for _, c := range cases {
		m := readMood(c.text)
		if m.sentiment != c.sentiment || m.profane != c.profane || m.shouting != c.shouting {
			t.Errorf("readMood(%q) = %+v, want sentiment %s profane %v shouting %v", c.text, m, c.sentiment, c.profane, c.shouting)
		}
	}
}

func TestRepeatsAndFollowUps(t *testing.T) {
	if s := overlap(stemSet("my card still hasn't arrived"), stemSet("My card still hasnt arrived!")); s < 0.8 {
		t.Errorf("a repeated question scores %.2f", s)
	}
	if s := overlap(stemSet("my password does not work any more"), stemSet("my password doesn't work any more!")); s < 0.8 {
		t.Errorf("a repeat with a contraction scores %.2f", s)
	}
	if s := overlap(stemSet("my card still hasn't arrived"), stemSet("how do I change my PIN")); s > 0.3 {
		t.Errorf("different questions score %.2f", s)
	}
	for _, s := range []string{"and on Windows?", "what about Android", "那苹果手机呢？", "also for business accounts?"} {
		if !isFollowUp(s) {
			t.Errorf("isFollowUp(%q) = false", s)
		}
	}
	for _, s := range []string{"how do I install it on Windows", "and then I tried again to log in with my phone number and email but nothing"} {
		if isFollowUp(s) {
			t.Errorf("isFollowUp(%q) = true", s)
		}
	}
}

func TestIsCommand(t *testing.T) {
	for text, want := range map[string]bool{"/start": true, "/start promo": true, "/help@support_bot": true,
		"/var/log is full": false, "/": false, "a/b": false, "/1": false} {
		if got := isCommand(text); got != want {
			t.Errorf("isCommand(%q) = %v, want %v", text, got, want)
		}
	}
}
