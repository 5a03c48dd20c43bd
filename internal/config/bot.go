package config

// Bot is the triage bot.
type Bot struct {
	// Name the bot signs with (default "Concierge").
	Name string `yaml:"name"`
}

func (b *Bot) defaults() { b.Name = "Concierge" }

func (b *Bot) validate() error { return nil }
