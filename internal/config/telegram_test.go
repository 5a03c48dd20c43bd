package config

import (
	"strings"
	"testing"
)

func TestTelegramWebhookSettingsFollowTelegramsRules(t *testing.T) {
	cases := []struct {
		yaml string
		want string // "" = valid
	}{
		{"mode: webhook\n    webhook_url: https://support.example.com/telegram/b/webhook\n    webhook_secret: abc_DEF-1", ""},
		{"mode: webhook\n    webhook_url: http://support.example.com/x\n    webhook_secret: abc", "https"},
		{"mode: webhook\n    webhook_url: https://support.example.com:8080/x\n    webhook_secret: abc", "port 8080"},
		{"mode: webhook\n    webhook_url: https://support.example.com/x\n    webhook_secret: not/allowed", "webhook_secret"},
		{"mode: webhook", "needs webhook_url"},
		{"api_url: localhost:8081", "api_url"},
		{"mode: sometimes", "mode"},
	}
	for _, c := range cases {
		p := write(t, "telegram:\n  - name: b\n    token: 1:x\n    "+c.yaml+"\n")
		_, err := Load(p, noEnv)
		switch {
		case c.want == "" && err != nil:
			t.Errorf("%q: %v, want valid", c.yaml, err)
		case c.want != "" && (err == nil || !strings.Contains(err.Error(), c.want)):
			t.Errorf("%q: %v, want an error about %s", c.yaml, err, c.want)
		}
	}
}
