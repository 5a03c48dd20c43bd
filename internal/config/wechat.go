package config

import (
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
	"time"
)

// WeChat is one WeChat Official Account (and optionally its WeCom customer service).
type WeChat struct {
	// Name identifies the account in the channel name ("wechat:<name>"), its callback URL
	// (/wechat/<name>) and environment overrides (CONCIERGE_WECHAT_<NAME>_...).
	Name string `yaml:"name"`
	// OriginalID is the account's gh_ id; callbacks addressed elsewhere are refused.
	OriginalID string `yaml:"original_id"`
	AppID      string `yaml:"app_id"`
	// AppSecret gets the access_token for the customer-service API; set it through
	// CONCIERGE_WECHAT_<NAME>_APP_SECRET rather than the file.
	AppSecret string `yaml:"app_secret"`
	// Token signs callbacks; EncodingAESKey (43 characters) encrypts them in safe mode.
	Token          string `yaml:"token"`
	EncodingAESKey string `yaml:"encoding_aes_key"`
	// Mode: plaintext, compatible or safe (default safe).
	Mode string `yaml:"mode"`
	// APIURL is the API base (default https://api.weixin.qq.com), for a proxy or tests.
	APIURL string `yaml:"api_url"`
	// TokenAPI: stable (default: cgi-bin/stable_token, safe to share between instances and
	// other tools) or classic (cgi-bin/token; only if nothing else fetches tokens for the
	// account, since each fetch invalidates the previous token).
	TokenAPI string `yaml:"token_api"`
	// ReplyBudget is how long a callback waits for the bot's answer to send it as the
	// passive reply (default 3s, at most 4.5s: WeChat gives up after 5s). Answers that take
	// longer go through the customer-service API.
	ReplyBudget time.Duration `yaml:"reply_budget"`
	// Menu maps custom-menu CLICK keys to what the click means: "human" (talk to a
	// person), "start" (greet, as on follow) or "ask:<text>" (as if the customer typed text).
	Menu map[string]string `yaml:"menu"`
	// KfSecret enables WeCom customer service (微信客服: kf/sync_msg and kf/send_msg) when
	// set: the Secret of the customer-service app in the WeCom admin console. Set it through
	// CONCIERGE_WECHAT_<NAME>_KF_SECRET.
	KfSecret string `yaml:"kf_secret"`
	// CorpID is the WeCom organisation (ww…), which WeCom callbacks are encrypted for.
	CorpID string `yaml:"corp_id"`
	// KfToken and KfEncodingAESKey are the customer-service API callback's token and key
	// (CONCIERGE_WECHAT_<NAME>_KF_TOKEN / _KF_ENCODING_AES_KEY); its URL is /wechat/<name>/kf.
	KfToken          string `yaml:"kf_token"`
	KfEncodingAESKey string `yaml:"kf_encoding_aes_key"`
	// KfAPIURL is the WeCom API base (default https://qyapi.weixin.qq.com).
	KfAPIURL string `yaml:"kf_api_url"`
}

// Kf reports whether WeCom customer service is configured for the account.
func (w *WeChat) Kf() bool { return w.KfSecret != "" }

func (w *WeChat) defaults() {
	if w.Mode == "" {
		w.Mode = "safe"
	}
	if w.APIURL == "" {
		w.APIURL = "https://api.weixin.qq.com"
	}
	if w.TokenAPI == "" {
		w.TokenAPI = "stable"
	}
	if w.ReplyBudget == 0 {
		w.ReplyBudget = 3 * time.Second
	}
	if w.KfAPIURL == "" {
		w.KfAPIURL = "https://qyapi.weixin.qq.com"
	}
}

func (w *WeChat) validate() error {
	var errs []error
	if !telegramName.MatchString(w.Name) {
		errs = append(errs, fmt.Errorf("name %q: want 1-64 of A-Za-z0-9_-", w.Name))
	}
	if w.Token == "" || w.OriginalID == "" || w.AppID == "" {
		errs = append(errs, errors.New("token, original_id and app_id are required"))
	}
	if w.AppSecret == "" {
		errs = append(errs, fmt.Errorf("app_secret is required to send messages (CONCIERGE_WECHAT_%s_APP_SECRET)", envName(w.Name)))
	}
	switch w.Mode {
	case "plaintext":
	case "compatible", "safe":
		if w.EncodingAESKey == "" {
			errs = append(errs, fmt.Errorf("%s mode needs encoding_aes_key (CONCIERGE_WECHAT_%s_ENCODING_AES_KEY)", w.Mode, envName(w.Name)))
		}
	default:
		errs = append(errs, fmt.Errorf("mode %q: want plaintext, compatible or safe", w.Mode))
	}
	if w.EncodingAESKey != "" && !validAESKey(w.EncodingAESKey) {
		errs = append(errs, errors.New("encoding_aes_key must be the 43-character key from the WeChat console"))
	}
	if w.Kf() {
		if w.CorpID == "" {
			errs = append(errs, errors.New("WeCom customer service (kf_secret) needs corp_id"))
		}
		if w.KfToken == "" {
			errs = append(errs, fmt.Errorf("WeCom customer service needs kf_token (CONCIERGE_WECHAT_%s_KF_TOKEN)", envName(w.Name)))
		}
		if !validAESKey(w.KfEncodingAESKey) {
			errs = append(errs, fmt.Errorf("WeCom customer service needs the 43-character kf_encoding_aes_key (CONCIERGE_WECHAT_%s_KF_ENCODING_AES_KEY)", envName(w.Name)))
		}
	}
	switch w.TokenAPI {
	case "stable", "classic":
	default:
		errs = append(errs, fmt.Errorf("token_api %q: want stable or classic", w.TokenAPI))
	}
	if w.ReplyBudget <= 0 || w.ReplyBudget > 4500*time.Millisecond {
		errs = append(errs, fmt.Errorf("reply_budget %s: want more than 0 and at most 4.5s (WeChat waits 5s)", w.ReplyBudget))
	}
	for key, action := range w.Menu {
		if _, err := ParseMenuAction(action); err != nil {
			errs = append(errs, fmt.Errorf("menu key %q: %w", key, err))
		}
	}
	return errors.Join(errs...)
}

// validAESKey checks an EncodingAESKey without ever echoing it: it is a secret.
func validAESKey(k string) bool {
	key, err := base64.StdEncoding.DecodeString(k + "=")
	return len(k) == 43 && err == nil && len(key) == 32
}

// MenuAction is what a custom-menu click means.
type MenuAction struct {
	// Kind is human, start or ask.
	Kind string
	// Text is the question of an ask action.
	Text string
}

// ParseMenuAction reads a menu value: "human", "start" or "ask:<text>".
func ParseMenuAction(v string) (MenuAction, error) {
	switch v = strings.TrimSpace(v); {
	case v == "human" || v == "start":
		return MenuAction{Kind: v}, nil
	case strings.HasPrefix(v, "ask:") && strings.TrimSpace(v[len("ask:"):]) != "":
		return MenuAction{Kind: "ask", Text: strings.TrimSpace(v[len("ask:"):])}, nil
	}
	return MenuAction{}, fmt.Errorf("%q: want human, start or ask:<text>", v)
}
