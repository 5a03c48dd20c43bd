package main

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/conciergehq/concierge"
	"github.com/conciergehq/concierge/channels/wechat"
	"github.com/conciergehq/concierge/internal/config"
)

// setupWeChat registers one adapter per configured Official Account and mounts its
// callback at /wechat/<name>. Any other /wechat/ path answers 404, saying why.
func (s *server) setupWeChat(ctx context.Context) error {
	s.mux.HandleFunc("/wechat/", func(w http.ResponseWriter, r *http.Request) {
		name := strings.TrimPrefix(r.URL.Path, "/wechat/")
		http.Error(w, fmt.Sprintf("no WeChat account named %q is configured on this server", name), http.StatusNotFound)
	})
	client := &http.Client{Timeout: 15 * time.Second}
	for _, c := range s.cfg.WeChat {
		menu := map[string]wechat.Click{}
		for key, v := range c.Menu {
			act, err := config.ParseMenuAction(v)
			if err != nil {
				return fmt.Errorf("wechat %s: menu key %q: %w", c.Name, key, err)
			}
			switch act.Kind {
			case "human":
				menu[key] = wechat.Click{Action: concierge.ActionHuman}
			case "start":
				menu[key] = wechat.Click{Action: concierge.ActionStart}
			case "ask":
				menu[key] = wechat.Click{Text: act.Text}
			}
		}
		wc := wechat.Config{
			Name: c.Name, OriginalID: c.OriginalID, AppID: c.AppID, AppSecret: c.AppSecret,
			Token: c.Token, EncodingAESKey: c.EncodingAESKey, Mode: c.Mode, APIURL: c.APIURL,
			ClassicToken: c.TokenAPI == "classic", ReplyBudget: c.ReplyBudget, Menu: menu,
		}
		if c.Kf() {
			wc.Kf = &wechat.KfConfig{CorpID: c.CorpID, Secret: c.KfSecret, Token: c.KfToken,
				EncodingAESKey: c.KfEncodingAESKey, APIURL: c.KfAPIURL}
		}
		acct, err := wechat.New(wc, wechat.Deps{Gateway: s.gateway, Store: s.store, Files: s.blobs, HTTP: client}, s.log)
		if err != nil {
			return err
		}
		if err := s.gateway.Register(acct); err != nil {
			return err
		}
		s.mux.Handle(acct.Path(), acct)
		s.log.Info().Str("account", c.Name).Str("mode", c.Mode).
			Str("callback_url", s.cfg.Server.BaseURL()+acct.Path()).
			Msg("WeChat account ready; set this URL, the token and the EncodingAESKey in the WeChat console")
		if kf := acct.KfHandler(); kf != nil {
			s.mux.Handle(acct.Path()+"/kf", kf)
			s.addService(acct.Name()+" customer service", acct.Run)
			s.log.Info().Str("account", c.Name).Str("callback_url", s.cfg.Server.BaseURL()+acct.Path()+"/kf").
				Msg("WeCom customer service ready; set this URL, kf_token and kf_encoding_aes_key as its API callback in WeCom")
		}
	}
	return nil
}
