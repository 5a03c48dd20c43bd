package config

import (
	"strings"
	"testing"
	"time"
)

func TestWeChatDefaultsAndMenu(t *testing.T) {
	p := write(t, `
wechat:
  - name: main
    original_id: gh_1
    app_id: wx1
    token: t
    mode: plaintext
    menu:
      TALK: human
      HELLO: start
      REFUND: "ask: How do I get a refund?"
`)
	c, err := Load(p, func(k string) (string, bool) { return "s", k == "CONCIERGE_WECHAT_MAIN_APP_SECRET" })
	if err != nil {
		t.Fatal(err)
	}
	w := c.WeChat[0]
	if w.ReplyBudget != 3*time.Second || w.TokenAPI != "stable" || w.APIURL != "https://api.weixin.qq.com" {
		t.Fatalf("defaults not applied: %+v", w)
	}
	if a, err := ParseMenuAction(w.Menu["REFUND"]); err != nil || a.Kind != "ask" || a.Text != "How do I get a refund?" {
		t.Fatalf("ask action read as %+v, %v", a, err)
	}
}

func TestWeChatMistakesAreReportedWithoutSecrets(t *testing.T) {
	const key = "0123456789012345678901234567890123456789012" // 43 characters, but not base64
	p := write(t, `
wechat:
  - name: main
    original_id: gh_1
    app_id: wx1
    token: t
    mode: safe
    encoding_aes_key: "`+key+`!"
    token_api: sometimes
    reply_budget: 6s
    menu:
      TALK: shout
`)
	_, err := Load(p, noEnv)
	if err == nil {
		t.Fatal("invalid WeChat section accepted")
	}
	for _, want := range []string{"CONCIERGE_WECHAT_MAIN_APP_SECRET", "encoding_aes_key must be", "token_api", "reply_budget 6s", `menu key "TALK"`} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q:\n%v", want, err)
		}
	}
	if strings.Contains(err.Error(), key) {
		t.Error("the error repeats the AES key")
	}
}

func TestWeComCustomerServiceNeedsItsCallbackSettings(t *testing.T) {
	p := write(t, `
wechat:
  - name: main
    original_id: gh_1
    app_id: wx1
    app_secret: s
    token: t
    mode: plaintext
    kf_secret: k
`)
	_, err := Load(p, noEnv)
	if err == nil || !strings.Contains(err.Error(), "needs corp_id") || !strings.Contains(err.Error(), "needs kf_token") || !strings.Contains(err.Error(), "KF_ENCODING_AES_KEY") {
		t.Fatalf("err = %v, want corp_id, kf_token and the key asked for", err)
	}
	_, err = Load(p, func(k string) (string, bool) {
		v, ok := map[string]string{"CONCIERGE_WECHAT_MAIN_KF_TOKEN": "kt",
			"CONCIERGE_WECHAT_MAIN_KF_ENCODING_AES_KEY": "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"}[k]
		return v, ok
	})
	if err == nil || !strings.Contains(err.Error(), "needs corp_id") || strings.Contains(err.Error(), "kf_token") || strings.Contains(err.Error(), "KF_ENCODING") {
		t.Fatalf("err = %v, want only corp_id missing once the environment gives the token and key", err)
	}
}
