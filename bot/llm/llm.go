// Package llm is the bot's optional language model, over any OpenAI-compatible endpoint
// (OpenAI, Ollama, llama.cpp, vLLM) through go-openai. It writes answers grounded in the
// knowledge base's articles with citations, refuses when they do not answer, reads
// details from free text as JSON, and embeds texts for semantic ranking. Every call is
// bounded by the caller's deadline and retried on 429, 5xx and connection errors; the
// bot falls back to its own behaviour on any failure.
package llm

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/rs/zerolog"
	openai "github.com/sashabaranov/go-openai"

	"github.com/conciergehq/concierge/bot"
)

// Config selects the endpoint and models.
type Config struct {
	// BaseURL includes /v1 (http://localhost:11434/v1 for Ollama).
	BaseURL string
	Model   string
	// APIKey is sent as a Bearer token when set.
	APIKey string
	// EmbeddingModel enables Embed.
	EmbeddingModel string
	// Retries after a 429, a 5xx or a connection error (default 2).
	Retries int
	// FirstByte bounds the wait for response headers (default 10s; the first Ollama
	// request includes loading the model).
	FirstByte time.Duration
}

// Client talks to the model. It is safe for concurrent use.
type Client struct {
	c     *openai.Client
	cfg   Config
	log   zerolog.Logger
	sleep func(ctx context.Context, d time.Duration) error
}

var (
	_ bot.Composer     = (*Client)(nil)
	_ bot.DetailReader = (*Client)(nil)
	_ bot.Embedder     = (*Client)(nil)
)

// New returns a client. httpClient may be nil.
func New(cfg Config, httpClient *http.Client, log zerolog.Logger) (*Client, error) {
	if cfg.BaseURL == "" || cfg.Model == "" {
		return nil, errors.New("llm: base URL and model are required")
	}
	if cfg.Retries == 0 {
		cfg.Retries = 2
	}
	if cfg.FirstByte == 0 {
		cfg.FirstByte = 10 * time.Second
	}
	if httpClient == nil {
		// No Client.Timeout: it would also cut a stream being read. Deadlines come from
		// the caller's context; the transport bounds the wait for the first byte.
		tr := http.DefaultTransport.(*http.Transport).Clone()
		tr.ResponseHeaderTimeout = cfg.FirstByte
		httpClient = &http.Client{Transport: tr}
	}
	oc := openai.DefaultConfig(cfg.APIKey)
	oc.BaseURL = strings.TrimRight(cfg.BaseURL, "/")
	oc.HTTPClient = httpClient
	return &Client{c: openai.NewClientWithConfig(oc), cfg: cfg,
		log: log.With().Str("component", "llm").Logger(), sleep: sleepCtx}, nil
}

// Model is the embedding model (bot.Embedder).
func (c *Client) Model() string { return c.cfg.EmbeddingModel }

// zeroTemp is how to ask for temperature 0: go-openai drops a zero value (omitempty).
const zeroTemp = math.SmallestNonzeroFloat32

// noAnswer is what the model must write when the sources do not answer the question.
const noAnswer = "NO_ANSWER"

var languageNames = map[string]string{"en": "English", "zh": "Simplified Chinese", "ja": "Japanese", "ko": "Korean",
	"es": "Spanish", "fr": "French", "de": "German", "pt": "Portuguese", "ru": "Russian"}

func composePrompt(req bot.ComposeRequest) []openai.ChatCompletionMessage {
	lang := languageNames[req.Language]
	if lang == "" {
		lang = "the customer's language"
	}
	sys := "You are a customer-support assistant. Answer the customer's question using ONLY the numbered sources below. " +
		"Cite the sources you used with their number in square brackets, like [1]. Be brief and concrete; keep steps as a list. " +
		"If the sources do not contain the answer, reply with exactly " + noAnswer + " and nothing else. " +
		"Never invent facts, links, prices or policies. Write in " + lang + "."
	var b strings.Builder
	for i, s := range req.Sources {
		fmt.Fprintf(&b, "[%d] %s\n%s\n\n", i+1, s.Title, strings.TrimSpace(s.Text))
	}
	return []openai.ChatCompletionMessage{
		{Role: openai.ChatMessageRoleSystem, Content: sys + "\n\nSources:\n\n" + b.String()},
		{Role: openai.ChatMessageRoleUser, Content: req.Question},
	}
}

var citation = regexp.MustCompile(`\[(\d{1,2})\]`)

// Compose writes a grounded answer (bot.Composer). It streams the completion so that a
// stalled model is noticed by the deadline, and so callers can show text as it comes.
func (c *Client) Compose(ctx context.Context, req bot.ComposeRequest) (bot.Composed, error) {
	return c.ComposeStream(ctx, req, nil)
}

// ComposeStream is Compose with each piece of text passed to onDelta as it arrives
// (the widget shows the answer being written). The final text is also returned.
func (c *Client) ComposeStream(ctx context.Context, req bot.ComposeRequest, onDelta func(string)) (bot.Composed, error) {
	if len(req.Sources) == 0 {
		return bot.Composed{Refused: true}, nil
	}
	creq := openai.ChatCompletionRequest{Model: c.cfg.Model, Messages: composePrompt(req), Temperature: zeroTemp,
		Stream: true, MaxCompletionTokens: 600}
	var text strings.Builder
	err := c.retry(ctx, "compose", func() (bool, error) {
		stream, err := c.c.CreateChatCompletionStream(ctx, creq)
		if err != nil {
			return true, err // nothing received yet: safe to retry
		}
		defer stream.Close()
		for {
			resp, err := stream.Recv()
			if errors.Is(err, io.EOF) {
				return false, nil
			}
			if err != nil {
				// Retry only before the first token: the customer may have seen the rest.
				return text.Len() == 0, err
			}
			if len(resp.Choices) == 0 {
				continue // the usage chunk
			}
			d := resp.Choices[0].Delta.Content
			if d == "" {
				continue
			}
			text.WriteString(d)
			if onDelta != nil {
				onDelta(d)
			}
		}
	})
	if err != nil {
		return bot.Composed{}, fmt.Errorf("llm: compose: %w", err)
	}
	out := strings.TrimSpace(text.String())
	if out == "" || strings.HasPrefix(out, noAnswer) {
		return bot.Composed{Refused: true}, nil
	}
	res := bot.Composed{Text: out}
	seen := map[string]bool{}
	for _, m := range citation.FindAllStringSubmatch(out, -1) {
		n, _ := strconv.Atoi(m[1])
		if n >= 1 && n <= len(req.Sources) && !seen[req.Sources[n-1].ID] {
			seen[req.Sources[n-1].ID] = true
			res.Citations = append(res.Citations, req.Sources[n-1].ID)
		}
	}
	if len(res.Citations) == 0 {
		// An answer that cites nothing is not grounded: treat it as a refusal.
		return bot.Composed{Refused: true}, nil
	}
	return res, nil
}

// ReadDetails asks the model for the named details as a JSON object (bot.DetailReader).
// Values the message does not contain come back absent, never guessed.
func (c *Client) ReadDetails(ctx context.Context, text string, names []string) (map[string]string, error) {
	sys := "Extract these fields from the customer's message: " + strings.Join(names, ", ") + ". " +
		`Reply with a JSON object whose keys are the field names and whose values are strings copied from the message. ` +
		`Leave out any field the message does not state. Do not guess.`
	creq := openai.ChatCompletionRequest{Model: c.cfg.Model, Temperature: zeroTemp, MaxCompletionTokens: 200,
		ResponseFormat: &openai.ChatCompletionResponseFormat{Type: openai.ChatCompletionResponseFormatTypeJSONObject},
		Messages: []openai.ChatCompletionMessage{
			{Role: openai.ChatMessageRoleSystem, Content: sys},
			{Role: openai.ChatMessageRoleUser, Content: text},
		}}
	var resp openai.ChatCompletionResponse
	err := c.retry(ctx, "read details", func() (bool, error) {
		var err error
		resp, err = c.c.CreateChatCompletion(ctx, creq)
		return true, err
	})
	if err != nil {
		return nil, fmt.Errorf("llm: read details: %w", err)
	}
	if len(resp.Choices) == 0 {
		return nil, errors.New("llm: read details: no choice in the response")
	}
	var raw map[string]any
	content := strings.TrimSpace(resp.Choices[0].Message.Content)
	content = strings.TrimSuffix(strings.TrimPrefix(strings.TrimPrefix(content, "```json"), "```"), "```")
	if err := json.Unmarshal([]byte(content), &raw); err != nil {
		return nil, fmt.Errorf("llm: read details: the model did not answer JSON: %w", err)
	}
	out := map[string]string{}
	want := map[string]bool{}
	for _, n := range names {
		want[n] = true
	}
	for k, v := range raw {
		if !want[k] || v == nil {
			continue
		}
		s := strings.TrimSpace(fmt.Sprint(v))
		// A value must appear in the message: the model extracts, it does not invent.
		if s != "" && strings.Contains(strings.ToLower(text), strings.ToLower(s)) {
			out[k] = s
		}
	}
	return out, nil
}

// Embed returns one vector per text, in order (bot.Embedder).
func (c *Client) Embed(ctx context.Context, texts []string) ([][]float32, error) {
	if c.cfg.EmbeddingModel == "" {
		return nil, errors.New("llm: embed: no embedding model configured")
	}
	var resp openai.EmbeddingResponse
	err := c.retry(ctx, "embed", func() (bool, error) {
		var err error
		resp, err = c.c.CreateEmbeddings(ctx, openai.EmbeddingRequestStrings{Input: texts,
			Model: openai.EmbeddingModel(c.cfg.EmbeddingModel)})
		return true, err
	})
	if err != nil {
		return nil, fmt.Errorf("llm: embed: %w", err)
	}
	if len(resp.Data) != len(texts) {
		return nil, fmt.Errorf("llm: embed: %d vectors for %d texts", len(resp.Data), len(texts))
	}
	data := append([]openai.Embedding(nil), resp.Data...)
	sort.Slice(data, func(i, j int) bool { return data[i].Index < data[j].Index })
	out := make([][]float32, len(texts))
	for i, d := range data {
		if d.Index != i {
			return nil, fmt.Errorf("llm: embed: vector index %d missing", i)
		}
		out[i] = d.Embedding
	}
	return out, nil
}

// retry runs call until it succeeds, fails for good, or the context ends. call reports
// whether its failure may be retried at all (a stream that already produced text may not).
func (c *Client) retry(ctx context.Context, op string, call func() (retryable bool, err error)) error {
	var err error
	for attempt := 0; ; attempt++ {
		var retryable bool
		retryable, err = call()
		if err == nil {
			return nil
		}
		if !retryable || attempt >= c.cfg.Retries || !transient(err) || ctx.Err() != nil {
			return err
		}
		delay := time.Duration(250<<attempt) * time.Millisecond
		c.log.Debug().Err(err).Str("op", op).Int("attempt", attempt+1).Dur("retry_in", delay).Msg("LLM call failed; retrying")
		if err := c.sleep(ctx, delay); err != nil {
			return err
		}
	}
}

// transient: rate limits, server errors and connection failures are worth another try.
func transient(err error) bool {
	var apiErr *openai.APIError
	if errors.As(err, &apiErr) {
		return apiErr.HTTPStatusCode == http.StatusTooManyRequests || apiErr.HTTPStatusCode >= 500
	}
	var reqErr *openai.RequestError
	if errors.As(err, &reqErr) {
		return reqErr.HTTPStatusCode == http.StatusTooManyRequests || reqErr.HTTPStatusCode >= 500
	}
	var netErr net.Error
	if errors.As(err, &netErr) && !netErr.Timeout() {
		return true
	}
	var opErr *net.OpError
	return errors.As(err, &opErr)
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
