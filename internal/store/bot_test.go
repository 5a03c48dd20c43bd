package store

import (
	"context"
	"path/filepath"
	"testing"
)

func TestEmbeddingsRoundTripAndSurviveReopen(t *testing.T) {
	path := filepath.Join(t.TempDir(), "c.db")
	s := openTest(t, path)
	ctx := context.Background()
	in := map[string][]float32{"a": {0.5, -1.25, 3}, "b": {1e-7, 2}}
	if err := s.SaveEmbeddings(ctx, "nomic", in); err != nil {
		t.Fatal(err)
	}
	if err := s.SaveEmbeddings(ctx, "nomic", map[string][]float32{"a": {9, 8, 7}}); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s = openTest(t, path)
	got, err := s.Embeddings(ctx, "nomic", []string{"a", "b", "missing"})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got["a"][0] != 9 || got["a"][2] != 7 || got["b"][0] != 1e-7 || got["b"][1] != 2 {
		t.Fatalf("embeddings = %v", got)
	}
	if other, _ := s.Embeddings(ctx, "other-model", []string{"a"}); len(other) != 0 {
		t.Fatalf("another model's lookup found %v", other)
	}
}
