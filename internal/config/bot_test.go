package config

import (
	"strings"
	"testing"
)

func TestBotSection(t *testing.T) {
	c, err := Load(write(t, `
bot:
  answer_threshold: 0.6
  team_details:
    technical: [account_id, region, error_code]
  escalate_tiers: [enterprise, vip]
  details:
    - name: ticket
      find: '\b(TCK-\d{5})\b'
      pattern: '^TCK-\d{5}$'
      example: TCK-12345
      prompt: {en: "What is the ticket number?", zh: "请提供工单号。"}
`), noEnv)
	if err != nil {
		t.Fatal(err)
	}
	b := c.Bot
	if b.AnswerThreshold != 0.6 || b.ClarifyThreshold != 0.3 || b.MaxReasks != 2 || len(b.TeamDetails["technical"]) != 3 ||
		b.Details[0].Prompt["zh"] == "" {
		t.Fatalf("bot section = %+v", b)
	}
	var zero Config
	if err := zero.Bot.validate(); err != nil {
		t.Fatalf("a zero bot section (defaults) is refused: %v", err)
	}
	_, err = Load(write(t, "bot:\n  answer_threshold: 0.2\n  details:\n    - name: x\n      find: '('\n"), noEnv)
	if err == nil || !strings.Contains(err.Error(), "clarify_threshold") || !strings.Contains(err.Error(), "details[0] (x).find") {
		t.Fatalf("err = %v, want both problems named", err)
	}
}
