package bot

import "context"

// Composer writes an answer from the best articles with a language model (bot/llm
// implements it). It must cite the articles it used and refuse when they do not
// support an answer; the bot then falls back to its own behaviour.
type Composer interface {
	Compose(ctx context.Context, req ComposeRequest) (Composed, error)
}

// ComposeRequest is a question with the articles that may answer it.
type ComposeRequest struct {
	Question string
	Language string
	Sources  []Source
}

// Source is one article offered to the model.
type Source struct {
	ID    string
	Title string
	Text  string
}

// Composed is the model's answer. Citations are the source ids it used.
type Composed struct {
	Text      string
	Citations []string
	Refused   bool
}

// DetailReader extracts named details from a message with a language model, for
// shapes the patterns do not know ("my account is the one under ana@… in Frankfurt").
type DetailReader interface {
	ReadDetails(ctx context.Context, text string, names []string) (map[string]string, error)
}

// Embedder turns texts into vectors (semantic search fused with the keyword ranking).
type Embedder interface {
	Embed(ctx context.Context, texts []string) ([][]float32, error)
	Model() string
}

// EmbeddingCache keeps article embeddings between starts, keyed by model and a hash of
// the embedded text (internal/store implements it).
type EmbeddingCache interface {
	Embeddings(ctx context.Context, model string, keys []string) (map[string][]float32, error)
	SaveEmbeddings(ctx context.Context, model string, vecs map[string][]float32) error
}
