package config

import (
	"errors"
	"fmt"
)

// WeChat is one WeChat Official Account (and optionally its WeCom customer service).
type WeChat struct {
	// Name identifies the account in the channel name ("wechat:<name>"), its callback URL
	// (/wechat/<name>) and environment overrides (CONCIERGE_WECHAT_<NAME>_...).
	Name string `yaml:"name"`
	// OriginalID is the account's gh_ id; callbacks addressed elsewhere are refused.
	OriginalID string `yaml:"original_id"`
	AppID      string `yaml:"app_id"`
	AppSecret  string `yaml:"app_secret"`
	// Token signs callbacks; EncodingAESKey (43 characters) encrypts them in safe mode.
	Token          string `yaml:"token"`
	EncodingAESKey string `yaml:"encoding_aes_key"`
	// Mode: plaintext, compatible or safe (default safe).
	Mode string `yaml:"mode"`
	// APIURL is the API base (default https://api.weixin.qq.com), for a proxy or tests.
	APIURL string `yaml:"api_url"`
	// KfSecret enables WeCom customer service (sync_msg/send_msg) when set.
	KfSecret string `yaml:"kf_secret"`
}

func (w *WeChat) defaults() {
	if w.Mode == "" {
		w.Mode = "safe"
	}
	if w.APIURL == "" {
		w.APIURL = "https://api.weixin.qq.com"
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
	switch w.Mode {
	case "plaintext":
	case "compatible", "safe":
		if len(w.EncodingAESKey) != 43 {
			errs = append(errs, fmt.Errorf("%s mode needs a 43-character encoding_aes_key", w.Mode))
		}
	default:
		errs = append(errs, fmt.Errorf("mode %q: want plaintext, compatible or safe", w.Mode))
	}
	return errors.Join(errs...)
}
