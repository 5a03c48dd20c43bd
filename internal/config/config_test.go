package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func write(t *testing.T, body string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "concierge.yaml")
	if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func noEnv(string) (string, bool) { return "", false }

func TestDefaultsRunWithoutAFile(t *testing.T) {
	c, err := Load("", noEnv)
	if err != nil {
		t.Fatal(err)
	}
	if c.Server.Addr != "127.0.0.1:8080" || c.Widget.MaxTextBytes != 4096 || !c.KB.LoadDemo() || c.Server.BaseURL() != "http://127.0.0.1:8080" {
		t.Fatalf("unexpected defaults: %+v", c)
	}
}

func TestUnknownKeysAreReportedWithTheirLine(t *testing.T) {
	_, err := Load(write(t, "server:\n  addr: 127.0.0.1:9000\n  adress: typo\n"), noEnv)
	if err == nil || !strings.Contains(err.Error(), "line 3") || !strings.Contains(err.Error(), "adress") {
		t.Fatalf("err = %v, want the unknown key named with its line", err)
	}
}

func TestEnvironmentOverridesSecretsPerNamedChannel(t *testing.T) {
	p := write(t, `
widget:
  identity_required: true
telegram:
  - name: support-bot
wechat:
  - name: main
    original_id: gh_1
    app_id: wx1
    token: t
    mode: plaintext
`)
	env := map[string]string{
		"CONCIERGE_WIDGET_IDENTITY_SECRET":     "s3cret",
		"CONCIERGE_TELEGRAM_SUPPORT_BOT_TOKEN": "123:abc",
		"CONCIERGE_WECHAT_MAIN_APP_SECRET":     "appsecret",
	}
	c, err := Load(p, func(k string) (string, bool) { v, ok := env[k]; return v, ok })
	if err != nil {
		t.Fatal(err)
	}
	if c.Widget.IdentitySecret != "s3cret" || c.Telegram[0].Token != "123:abc" || c.WeChat[0].AppSecret != "appsecret" {
		t.Fatalf("environment not applied: %+v %+v %+v", c.Widget, c.Telegram[0], c.WeChat[0])
	}
	if c.Telegram[0].Mode != "polling" || c.Telegram[0].APIURL != "https://api.telegram.org" {
		t.Fatalf("list entries did not get their defaults: %+v", c.Telegram[0])
	}
}

func TestInvalidValuesAreAllReportedAtOnce(t *testing.T) {
	_, err := Load(write(t, "server:\n  addr: nope\n  allowed_origins: [\"example.com\"]\nwidget:\n  accent: blue\n"), noEnv)
	if err == nil {
		t.Fatal("invalid config accepted")
	}
	for _, want := range []string{"server.addr", "allowed_origins", "widget.accent"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error does not mention %s: %v", want, err)
		}
	}
}

func TestTheExampleFileIsValid(t *testing.T) {
	if _, err := Load(filepath.Join("..", "..", "concierge.example.yaml"), noEnv); err != nil {
		t.Fatalf("concierge.example.yaml: %v", err)
	}
}
