package bot

import "testing"

func TestDetectLanguage(t *testing.T) {
	cases := []struct{ text, want string }{
		{"How do I reset my password?", "en"},
		{"my card was declined", "en"},
		{"我的订单还没到", "zh"},
		{"转人工", "zh"},
		{"請問如何退款", "zh"},
		{"注文がまだ届きません", "ja"},
		{"パスワードを忘れました", "ja"},
		{"東京に住んでいます", "ja"},
		{"비밀번호를 잊어버렸어요", "ko"},
		{"주문 번호는 12345입니다", "ko"},
		{"¿Cómo puedo cambiar mi tarjeta?", "es"},
		{"Bonjour, je ne peux pas utiliser ma carte", "fr"},
		{"Hallo, ich kann meine Karte nicht benutzen", "de"},
		{"Olá, não consigo usar o meu cartão", "pt"},
		{"Здравствуйте, не работает карта", "ru"},
		{"订单号 ORD-12345 还没有发货", "zh"},
		{"my order 订单", "zh"},
		{"订单号ORD-12345还没有发货", "zh"},
		{"ok", ""},
		{"12345", ""},
		{"ana@example.com", ""}, {"ORD-12345", ""}, {"https://example.com/orders", ""},
		{"", ""},
	}
	for _, c := range cases {
		if got := DetectLanguage(c.text); got != c.want {
			t.Errorf("DetectLanguage(%q) = %q, want %q", c.text, got, c.want)
		}
	}
}
