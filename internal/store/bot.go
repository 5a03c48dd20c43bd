package store

import (
	"context"
	"encoding/binary"
	"fmt"
	"math"
	"strings"
)

// Embeddings returns the stored vectors of the given keys for a model; keys without one
// are absent from the map.
func (s *Store) Embeddings(ctx context.Context, model string, keys []string) (map[string][]float32, error) {
	out := make(map[string][]float32, len(keys))
	for start := 0; start < len(keys); start += 200 {
		chunk := keys[start:min(start+200, len(keys))]
		args := make([]any, 0, len(chunk)+1)
		args = append(args, model)
		for _, k := range chunk {
			args = append(args, k)
		}
		q := `SELECT key, dims, vector FROM bot_embeddings WHERE model = ? AND key IN (?` + strings.Repeat(", ?", len(chunk)-1) + `)`
		rows, err := s.r.QueryContext(ctx, q, args...)
		if err != nil {
			return nil, fmt.Errorf("store: embeddings of %s: %w", model, err)
		}
		for rows.Next() {
			var key string
			var dims int
			var blob []byte
			if err := rows.Scan(&key, &dims, &blob); err != nil {
				rows.Close()
				return nil, fmt.Errorf("store: embeddings of %s: %w", model, err)
			}
			if len(blob) != 4*dims {
				continue // damaged: re-embedded by the caller
			}
			v := make([]float32, dims)
			for i := range v {
				v[i] = math.Float32frombits(binary.LittleEndian.Uint32(blob[4*i:]))
			}
			out[key] = v
		}
		err = rows.Err()
		rows.Close()
		if err != nil {
			return nil, fmt.Errorf("store: embeddings of %s: %w", model, err)
		}
	}
	return out, nil
}

// SaveEmbeddings stores vectors for a model, replacing those of the same keys.
func (s *Store) SaveEmbeddings(ctx context.Context, model string, vecs map[string][]float32) error {
	now := ms(s.now())
	err := s.Write(ctx, func(ctx context.Context, tx *Tx) error {
		for key, v := range vecs {
			blob := make([]byte, 4*len(v))
			for i, x := range v {
				binary.LittleEndian.PutUint32(blob[4*i:], math.Float32bits(x))
			}
			_, err := tx.ExecContext(ctx, `INSERT INTO bot_embeddings (model, key, dims, vector, created_at) VALUES (?, ?, ?, ?, ?)
				ON CONFLICT (model, key) DO UPDATE SET dims = excluded.dims, vector = excluded.vector, created_at = excluded.created_at`,
				model, key, len(v), blob, now)
			if err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("store: save embeddings of %s: %w", model, err)
	}
	return nil
}
