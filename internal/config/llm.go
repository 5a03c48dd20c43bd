package config

import (
	"fmt"
	"net/url"
	"time"
)

// LLM is the optional OpenAI-compatible endpoint. Everything works without it.
type LLM struct {
	// BaseURL including /v1 (http://localhost:11434/v1 for Ollama). Empty disables the LLM.
	BaseURL string `yaml:"base_url"`
	Model   string `yaml:"model"`
	// APIKey: set it through CONCIERGE_LLM_API_KEY rather than the file.
	APIKey string `yaml:"api_key"`
	// EmbeddingModel enables embeddings fused with the keyword ranking.
	EmbeddingModel string `yaml:"embedding_model"`
	// Timeout for one answer (default 8s); the bot falls back to its non-LLM answer after it.
	Timeout time.Duration `yaml:"timeout"`
}

func (l *LLM) defaults() { l.Timeout = 8 * time.Second }

// Enabled reports whether an LLM is configured.
func (l *LLM) Enabled() bool { return l.BaseURL != "" }

func (l *LLM) validate() error {
	if l.BaseURL == "" {
		return nil
	}
	if u, err := url.Parse(l.BaseURL); err != nil || u.Host == "" {
		return fmt.Errorf("llm.base_url %q: want http(s)://host[:port]/v1", l.BaseURL)
	}
	if l.Model == "" {
		return fmt.Errorf("llm.model is required with llm.base_url")
	}
	return nil
}
