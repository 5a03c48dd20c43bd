// Package blob keeps files customers send (photos, documents, voice notes) in the data
// directory, so agents can view them through our own server without channel credentials
// and after the channel's own links expire.
package blob

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"

	"github.com/conciergehq/concierge"
)

// Meta describes a stored file.
type Meta struct {
	Key  string `json:"key"`
	Name string `json:"name"`
	MIME string `json:"mime"`
	Size int64  `json:"size"`
}

// Store is a directory of files named by random keys, each with a JSON sidecar.
type Store struct {
	dir     string
	maxSize int64
}

// New keeps files under dir, refusing any larger than maxSize bytes.
func New(dir string, maxSize int64) (*Store, error) {
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return nil, fmt.Errorf("blob: %w", err)
	}
	return &Store{dir: dir, maxSize: maxSize}, nil
}

// ErrTooLarge is returned for files over the size limit.
var ErrTooLarge = errors.New("blob: file too large")

var keyRe = regexp.MustCompile(`^[0-9a-f]{32}$`)

// Put stores r and returns its metadata. The file is written to a temporary name and
// renamed when complete, so a crash never leaves a half file under a valid key.
func (s *Store) Put(ctx context.Context, r io.Reader, name, mimeType string) (Meta, error) {
	var raw [16]byte
	_, _ = rand.Read(raw[:])
	key := hex.EncodeToString(raw[:])
	tmp, err := os.CreateTemp(s.dir, ".upload-*")
	if err != nil {
		return Meta{}, fmt.Errorf("blob: put: %w", err)
	}
	defer os.Remove(tmp.Name()) // no-op after the rename
	n, err := io.Copy(tmp, io.LimitReader(r, s.maxSize+1))
	if err == nil && n > s.maxSize {
		err = fmt.Errorf("%w (over %d bytes)", ErrTooLarge, s.maxSize)
	}
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return Meta{}, fmt.Errorf("blob: put %s: %w", name, err)
	}
	if mimeType == "" {
		mimeType = mime.TypeByExtension(filepath.Ext(name))
	}
	if mimeType == "" {
		mimeType = "application/octet-stream"
	}
	m := Meta{Key: key, Name: filepath.Base(name), MIME: mimeType, Size: n}
	side, _ := json.Marshal(m)
	if err := os.WriteFile(s.path(key)+".json", side, 0o640); err != nil {
		return Meta{}, fmt.Errorf("blob: put %s: %w", name, err)
	}
	if err := os.Rename(tmp.Name(), s.path(key)); err != nil {
		return Meta{}, fmt.Errorf("blob: put %s: %w", name, err)
	}
	return m, nil
}

func (s *Store) path(key string) string { return filepath.Join(s.dir, key) }

// Open returns a stored file and its metadata; the caller closes it.
func (s *Store) Open(key string) (*os.File, Meta, error) {
	if !keyRe.MatchString(key) {
		return nil, Meta{}, fmt.Errorf("blob: %q: %w", key, concierge.ErrNotFound)
	}
	side, err := os.ReadFile(s.path(key) + ".json")
	if err != nil {
		return nil, Meta{}, fmt.Errorf("blob: %s: %w", key, concierge.ErrNotFound)
	}
	var m Meta
	if err := json.Unmarshal(side, &m); err != nil {
		return nil, Meta{}, fmt.Errorf("blob: %s: damaged metadata: %w", key, err)
	}
	f, err := os.Open(s.path(key))
	if err != nil {
		return nil, Meta{}, fmt.Errorf("blob: %s: %w", key, concierge.ErrNotFound)
	}
	return f, m, nil
}

// URL is the path the Handler serves a key at.
func URL(key string) string { return "/attachments/" + key }

// Handler serves GET /attachments/{key}. Mount it behind the agents' authentication.
// Files are sent as attachments unless they are images, audio or video (shown inline), so a
// customer-supplied HTML file can never run in our origin.
func (s *Store) Handler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		f, m, err := s.Open(r.PathValue("key"))
		if err != nil {
			http.NotFound(w, r)
			return
		}
		defer f.Close()
		disposition := "attachment"
		if strings.HasPrefix(m.MIME, "image/") || strings.HasPrefix(m.MIME, "audio/") || strings.HasPrefix(m.MIME, "video/") {
			disposition = "inline"
		}
		w.Header().Set("Content-Type", m.MIME)
		w.Header().Set("Content-Disposition", mime.FormatMediaType(disposition, map[string]string{"filename": m.Name}))
		w.Header().Set("Content-Security-Policy", "default-src 'none'; sandbox")
		w.Header().Set("X-Content-Type-Options", "nosniff")
		w.Header().Set("Cache-Control", "private, max-age=86400")
		w.Header().Set("Content-Length", strconv.FormatInt(m.Size, 10))
		io.Copy(w, f)
	})
}
