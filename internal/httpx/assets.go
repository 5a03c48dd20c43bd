package httpx

import (
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io/fs"
	"mime"
	"net/http"
	"path"
	"sort"
	"strings"
)

// Assets serves an embedded directory of static files (a web UI's CSS and JS modules)
// under a URL that carries a hash of the whole directory: /prefix/<hash>/app.js. The
// files can then be cached forever, relative imports between ES modules keep working,
// and any change to any file changes every URL.
type Assets struct {
	fsys   fs.FS
	prefix string
	hash   string
}

// NewAssets hashes fsys and serves it below prefix (for example "/agent/assets").
func NewAssets(fsys fs.FS, prefix string) (*Assets, error) {
	h := sha256.New()
	var names []string
	err := fs.WalkDir(fsys, ".", func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			names = append(names, p)
		}
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("httpx: hash assets: %w", err)
	}
	sort.Strings(names)
	for _, n := range names {
		b, err := fs.ReadFile(fsys, n)
		if err != nil {
			return nil, fmt.Errorf("httpx: hash assets: %w", err)
		}
		fmt.Fprintf(h, "%s\x00%d\x00", n, len(b))
		h.Write(b)
	}
	return &Assets{fsys: fsys, prefix: strings.TrimRight(prefix, "/"), hash: hex.EncodeToString(h.Sum(nil))[:12]}, nil
}

// Base is the versioned URL directory, ending in "/": use it in HTML as Base()+"app.js".
func (a *Assets) Base() string { return a.prefix + "/" + a.hash + "/" }

// URL is the versioned URL of one file.
func (a *Assets) URL(name string) string { return a.Base() + strings.TrimLeft(name, "/") }

// Pattern is the ServeMux pattern to register the assets under.
func (a *Assets) Pattern() string { return "GET " + a.prefix + "/" }

// ServeHTTP serves /prefix/<hash>/name. A request with another hash (a page loaded before
// an upgrade) still gets the current file, but is not cached for long.
func (a *Assets) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	rest, ok := strings.CutPrefix(r.URL.Path, a.prefix+"/")
	if !ok {
		http.NotFound(w, r)
		return
	}
	version, name, ok := strings.Cut(rest, "/")
	if !ok || name == "" || strings.Contains(name, "..") {
		http.NotFound(w, r)
		return
	}
	b, err := fs.ReadFile(a.fsys, name)
	if err != nil {
		http.NotFound(w, r)
		return
	}
	ct := mime.TypeByExtension(path.Ext(name))
	if ct == "" {
		ct = http.DetectContentType(b)
	}
	w.Header().Set("Content-Type", ct)
	if version == a.hash {
		w.Header().Set("Cache-Control", "public, max-age=31536000, immutable")
	} else {
		w.Header().Set("Cache-Control", "no-cache")
	}
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.Header().Add("Vary", "Accept-Encoding")
	if len(b) > 1024 && strings.Contains(r.Header.Get("Accept-Encoding"), "gzip") {
		w.Header().Set("Content-Encoding", "gzip")
		zw := gzip.NewWriter(w)
		zw.Write(b)
		zw.Close()
		return
	}
	w.Write(b)
}
