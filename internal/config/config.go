// Package config reads concierge.yaml: documented keys, defaults that run the product on
// one machine, environment overrides for secrets, and unknown keys reported as errors so
// a typo never silently falls back to a default.
//
// Each section lives in its own file with its defaults, environment overrides and checks.
package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"gopkg.in/yaml.v3"
)

// Config is the whole configuration file.
type Config struct {
	Server   Server     `yaml:"server"`
	Log      Log        `yaml:"log"`
	Store    Store      `yaml:"store"`
	Widget   Widget     `yaml:"widget"`
	KB       KB         `yaml:"kb"`
	Bot      Bot        `yaml:"bot"`
	LLM      LLM        `yaml:"llm"`
	Handoff  Handoff    `yaml:"handoff"`
	Telegram []Telegram `yaml:"telegram"`
	WeChat   []WeChat   `yaml:"wechat"`
}

// LookupEnv reads an environment variable (os.LookupEnv, or a map in tests).
type LookupEnv func(key string) (string, bool)

// Default is the configuration used when there is no file.
func Default() Config {
	var c Config
	c.Server.defaults()
	c.Log.defaults()
	c.Store.defaults()
	c.Widget.defaults()
	c.KB.defaults()
	c.Bot.defaults()
	c.LLM.defaults()
	c.Handoff.defaults()
	return c
}

// Load reads the YAML file at path (no file when path is empty), applies environment
// overrides and checks the result.
func Load(path string, env LookupEnv) (Config, error) {
	c := Default()
	if path != "" {
		f, err := os.Open(path)
		if err != nil {
			return c, fmt.Errorf("config: %w", err)
		}
		defer f.Close()
		if err := c.decode(f); err != nil {
			return c, fmt.Errorf("config: %s: %w", path, err)
		}
	}
	if env == nil {
		env = os.LookupEnv
	}
	if err := c.applyEnv(env); err != nil {
		return c, fmt.Errorf("config: environment: %w", err)
	}
	if err := c.Validate(); err != nil {
		if path != "" {
			return c, fmt.Errorf("config: %s: %w", path, err)
		}
		return c, fmt.Errorf("config: %w", err)
	}
	return c, nil
}

func (c *Config) decode(r io.Reader) error {
	body, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	if len(bytes.TrimSpace(body)) == 0 {
		return nil
	}
	dec := yaml.NewDecoder(bytes.NewReader(body))
	dec.KnownFields(true) // unknown keys are errors: "line 4: field adress not found in type config.Server"
	if err := dec.Decode(c); err != nil && !errors.Is(err, io.EOF) {
		return err
	}
	// Entries of lists start from their own defaults.
	for i := range c.Telegram {
		c.Telegram[i].defaults()
	}
	for i := range c.WeChat {
		c.WeChat[i].defaults()
	}
	return nil
}

func (c *Config) applyEnv(env LookupEnv) error {
	set := func(dst *string, key string) {
		if v, ok := env(key); ok {
			*dst = v
		}
	}
	set(&c.Server.Addr, "CONCIERGE_ADDR")
	set(&c.Server.PublicURL, "CONCIERGE_PUBLIC_URL")
	set(&c.Log.Level, "CONCIERGE_LOG_LEVEL")
	set(&c.Widget.IdentitySecret, "CONCIERGE_WIDGET_IDENTITY_SECRET")
	set(&c.LLM.APIKey, "CONCIERGE_LLM_API_KEY")
	for i := range c.Telegram {
		t := &c.Telegram[i]
		p := "CONCIERGE_TELEGRAM_" + envName(t.Name) + "_"
		set(&t.Token, t.TokenEnv())
		set(&t.WebhookSecret, p+"WEBHOOK_SECRET")
	}
	for i := range c.WeChat {
		w := &c.WeChat[i]
		p := "CONCIERGE_WECHAT_" + envName(w.Name) + "_"
		set(&w.AppSecret, p+"APP_SECRET")
		set(&w.Token, p+"TOKEN")
		set(&w.EncodingAESKey, p+"ENCODING_AES_KEY")
		set(&w.KfSecret, p+"KF_SECRET")
		set(&w.KfToken, p+"KF_TOKEN")
		set(&w.KfEncodingAESKey, p+"KF_ENCODING_AES_KEY")
	}
	return nil
}

// envName turns a configured name into the part of an environment variable name.
func envName(s string) string {
	return strings.Map(func(r rune) rune {
		switch {
		case r >= 'a' && r <= 'z':
			return r - 'a' + 'A'
		case r >= 'A' && r <= 'Z', r >= '0' && r <= '9':
			return r
		}
		return '_'
	}, s)
}

// Validate checks every section and reports all problems at once.
func (c *Config) Validate() error {
	errs := []error{c.Server.validate(), c.Log.validate(), c.Store.validate(), c.Widget.validate(),
		c.KB.validate(), c.Bot.validate(), c.LLM.validate(), c.Handoff.validate()}
	names := map[string]bool{}
	for i := range c.Telegram {
		if err := c.Telegram[i].validate(); err != nil {
			errs = append(errs, fmt.Errorf("telegram[%d]: %w", i, err))
		}
		if names["telegram:"+c.Telegram[i].Name] {
			errs = append(errs, fmt.Errorf("telegram[%d]: name %q used twice", i, c.Telegram[i].Name))
		}
		names["telegram:"+c.Telegram[i].Name] = true
	}
	for i := range c.WeChat {
		if err := c.WeChat[i].validate(); err != nil {
			errs = append(errs, fmt.Errorf("wechat[%d]: %w", i, err))
		}
		if names["wechat:"+c.WeChat[i].Name] {
			errs = append(errs, fmt.Errorf("wechat[%d]: name %q used twice", i, c.WeChat[i].Name))
		}
		names["wechat:"+c.WeChat[i].Name] = true
	}
	return errors.Join(errs...)
}
