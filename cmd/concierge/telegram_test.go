package main

import (
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/conciergehq/concierge/channels/telegram/telegramtest"
)

func telegramConfig(t *testing.T, fake *telegramtest.Server, extra string) string {
	t.Helper()
	t.Setenv("CONCIERGE_TELEGRAM_SUPPORT_TOKEN", telegramtest.Token)
	p := filepath.Join(t.TempDir(), "concierge.yaml")
	body := "telegram:\n  - name: support\n    api_url: " + fake.URL + "\n" + extra
	if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestServePollsAConfiguredTelegramBot(t *testing.T) {
	fake := telegramtest.New(t)
	_, stop := startServe(t, "--config", telegramConfig(t, fake, ""))
	defer stop()
	u := fake.Push(telegramtest.Text(1, 42, "Ada", "hello"))[0]
	// The next poll confirms the update: it was stored.
	want := strconv.Itoa(u.UpdateID + 1)
	fake.WaitUntil(t, "the update confirmed by the next poll", func() bool {
		for _, c := range fake.Calls("getUpdates") {
			if c.Params.Get("offset") == want {
				return true
			}
		}
		return false
	})
	if got := stop(); got != 0 {
		t.Fatalf("serve exit status %d", got)
	}
}

func TestServeMountsTheTelegramWebhook(t *testing.T) {
	fake := telegramtest.New(t)
	cfg := telegramConfig(t, fake, "    mode: webhook\n    webhook_url: https://support.example.com/telegram/support/webhook\n    webhook_secret: hook-Secret_1\n")
	base, stop := startServe(t, "--config", cfg)
	defer stop()
	fake.WaitUntil(t, "setWebhook", func() bool { return fake.Webhook() != nil })
	if wh := fake.Webhook(); wh.Get("secret_token") != "hook-Secret_1" || wh.Get("url") != "https://support.example.com/telegram/support/webhook" {
		t.Fatalf("setWebhook = %v", wh)
	}
	u := telegramtest.Text(1, 42, "Ada", "hello")
	u.UpdateID = fake.NextUpdateID()
	body, _ := json.Marshal(u)
	post := func(secret string) int {
		req, _ := http.NewRequest(http.MethodPost, base+"/telegram/support/webhook", strings.NewReader(string(body)))
		req.Header.Set("X-Telegram-Bot-Api-Secret-Token", secret)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if code := post("wrong"); code != http.StatusUnauthorized {
		t.Fatalf("wrong secret: %d, want 401", code)
	}
	if code := post("hook-Secret_1"); code != http.StatusOK {
		t.Fatalf("right secret: %d, want 200", code)
	}
}

func TestServeNamesTheVariableOfARefusedTelegramToken(t *testing.T) {
	fake := telegramtest.New(t)
	fake.Fail("getMe", http.StatusUnauthorized, "Unauthorized", 0)
	var out strings.Builder
	code := run(t.Context(), []string{"serve", "--data", t.TempDir(), "--addr", freeAddr(t), "--config", telegramConfig(t, fake, "")},
		strings.NewReader(""), &out, &out)
	if code != 1 || !strings.Contains(out.String(), "CONCIERGE_TELEGRAM_SUPPORT_TOKEN") || strings.Contains(out.String(), telegramtest.Token) {
		t.Fatalf("serve with a refused token: exit %d, output %q; want exit 1 naming the variable, never the token", code, out.String())
	}
}
