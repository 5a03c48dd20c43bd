package main

import (
	"context"
	"fmt"
	"regexp"
	"time"

	"github.com/conciergehq/concierge"
	"github.com/conciergehq/concierge/bot"
	"github.com/conciergehq/concierge/bot/llm"
	"github.com/conciergehq/concierge/internal/config"
	"github.com/conciergehq/concierge/kb"
)

// setupBot builds the triage bot over the knowledge base and makes it the gateway's
// responder. Its index is rebuilt when articles change (kb topic on the bus).
func (s *server) setupBot(ctx context.Context) error {
	b, err := newBot(s.env, s.kb)
	if err != nil {
		return err
	}
	if err := b.Reload(ctx); err != nil {
		return err
	}
	s.gateway.SetResponder(b)
	s.addService("bot index", func(ctx context.Context) error {
		go followKB(ctx, s, b)
		return b.Run(ctx)
	})
	return nil
}

// followKB tells the bot about article changes; when the bus drops the subscription
// (too slow), it subscribes again and has the bot reload everything.
func followKB(ctx context.Context, s *server, b *bot.Bot) {
	for first := true; ctx.Err() == nil; first = false {
		sub := s.bus.Subscribe(concierge.TopicKB, 256)
		if !first {
			b.Changed() // changes may have been missed while resubscribing
		}
		for open := true; open; {
			select {
			case <-ctx.Done():
				sub.Close()
				return
			case ev, ok := <-sub.C:
				if !ok {
					open = false
					break
				}
				if ev.Kind == concierge.EventArticle {
					b.Changed()
				}
			}
		}
	}
}

// newBot makes the bot from the configuration, with the LLM when one is configured.
func newBot(e *env, base *kb.Base) (*bot.Bot, error) {
	opts, err := botOptions(e.cfg)
	if err != nil {
		return nil, err
	}
	b, err := bot.New(kbKnowledge{base}, kbRenderer{}, opts, e.log)
	if err != nil {
		return nil, err
	}
	if e.cfg.LLM.Enabled() {
		c, err := llm.New(llm.Config{BaseURL: e.cfg.LLM.BaseURL, Model: e.cfg.LLM.Model, APIKey: e.cfg.LLM.APIKey,
			EmbeddingModel: e.cfg.LLM.EmbeddingModel}, nil, e.log)
		if err != nil {
			return nil, err
		}
		b.SetLLM(c, c)
		if e.cfg.LLM.EmbeddingModel != "" {
			b.SetEmbeddings(c, e.store)
		}
		e.log.Info().Str("model", e.cfg.LLM.Model).Str("embedding_model", e.cfg.LLM.EmbeddingModel).Msg("LLM answers enabled")
	}
	return b, nil
}

func botOptions(cfg config.Config) (bot.Options, error) {
	c := cfg.Bot
	o := bot.Options{Name: c.Name, BaseURL: cfg.Server.BaseURL(), AnswerThreshold: c.AnswerThreshold,
		ClarifyThreshold: c.ClarifyThreshold, MaxReasks: c.MaxReasks, DefaultLanguage: c.DefaultLanguage,
		DefaultTeam: cfg.Handoff.DefaultTeam, TeamDetails: c.TeamDetails, TagTeams: c.TagTeams,
		EscalateTags: c.EscalateTags, EscalateTiers: c.EscalateTiers, LLMTimeout: cfg.LLM.Timeout}
	if o.LLMTimeout <= 0 {
		o.LLMTimeout = 8 * time.Second
	}
	for _, d := range c.Details {
		k := bot.DetailKind{Name: d.Name, Example: d.Example, Prompt: d.Prompt}
		var err error
		if d.Find != "" {
			if k.Find, err = regexp.Compile(d.Find); err != nil {
				return o, fmt.Errorf("bot.details %s: %w", d.Name, err)
			}
		}
		if d.Pattern != "" {
			if k.Valid, err = regexp.Compile(anchor(d.Pattern)); err != nil {
				return o, fmt.Errorf("bot.details %s: %w", d.Name, err)
			}
		}
		o.Details = append(o.Details, k)
	}
	return o, nil
}

func anchor(p string) string { return "^(?:" + p + ")$" }

// openBotForTest opens the knowledge base in the data directory (database only: the
// bot ranks from the articles themselves) and builds the bot over it.
func openBotForTest(ctx context.Context, e *env) (*bot.Bot, func(), error) {
	base := kb.OpenDatabaseOnly(e.store, nil, e.log)
	b, err := newBot(e, base)
	if err != nil {
		return nil, nil, err
	}
	// The test scores decisions, which never depend on the model's prose: no answer
	// is composed (embeddings, which change the ranking, stay on when configured).
	b.SetLLM(nil, nil)
	if err := b.Reload(ctx); err != nil {
		return nil, nil, err
	}
	if b.Size() == 0 {
		return nil, nil, errNoArticles
	}
	return b, func() {}, nil
}

// kbKnowledge adapts the knowledge base to what the bot reads.
type kbKnowledge struct{ b *kb.Base }

func (k kbKnowledge) Published(ctx context.Context) ([]kb.Article, error) {
	var all []kb.Article
	for offset := 0; ; {
		page, total, err := k.b.List(ctx, kb.Filter{Status: kb.StatusPublished, Limit: 1000, Offset: offset})
		if err != nil {
			return nil, err
		}
		all = append(all, page...)
		offset += len(page)
		if len(page) == 0 || offset >= total {
			return all, nil
		}
	}
}

func (k kbKnowledge) Feedback(ctx context.Context, id string, helpful bool) error {
	return k.b.Feedback(ctx, id, helpful)
}

// kbRenderer renders articles with the KB's sanitising Markdown renderer.
type kbRenderer struct{}

func (kbRenderer) HTML(md string) string { return kb.RenderHTML(md) }
func (kbRenderer) Text(md string) string { return kb.RenderText(md) }
