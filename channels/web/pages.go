package web

import (
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"

	"github.com/conciergehq/concierge/internal/httpx"
	"github.com/conciergehq/concierge/widget"
)

// Routes mounts the widget: the loader script, the chat window page and its assets, the
// WebSocket, and (when enabled) the demo page at /.
func (ch *Channel) Routes(mux *http.ServeMux) error {
	assets, err := httpx.NewAssets(widget.UI(), "/widget/assets")
	if err != nil {
		return fmt.Errorf("web: %w", err)
	}
	ld, err := ch.loader()
	if err != nil {
		return err
	}
	mux.Handle("GET /widget.js", ld)
	mux.Handle(assets.Pattern(), assets)
	mux.HandleFunc("GET /widget/frame", func(w http.ResponseWriter, r *http.Request) { ch.serveFrame(w, r, assets.Base()) })
	mux.HandleFunc("GET /widget/ws", ch.serveWS)
	if ch.opts.Demo {
		mux.HandleFunc("GET /{$}", ch.serveDemo)
	}
	return nil
}

// staticFile is a small generated file served with an ETag and gzip.
type staticFile struct {
	body, gz []byte
	etag     string
	ctype    string
}

// loader is widget.js with the configured defaults filled in. Its URL is fixed (sites
// embed it), so it is cached briefly and revalidated with an ETag.
func (ch *Channel) loader() (*staticFile, error) {
	defaults, err := json.Marshal(map[string]string{"title": ch.opts.Title, "accent": ch.opts.Accent,
		"position": ch.opts.Position, "locale": ch.opts.Locale})
	if err != nil {
		return nil, fmt.Errorf("web: loader defaults: %w", err)
	}
	src := widget.Loader()
	if !bytes.Contains(src, []byte(widget.DefaultsMarker)) {
		return nil, fmt.Errorf("web: loader has no defaults marker")
	}
	body := bytes.Replace(src, []byte(widget.DefaultsMarker), defaults, 1)
	var gz bytes.Buffer
	zw, _ := gzip.NewWriterLevel(&gz, gzip.BestCompression)
	zw.Write(body)
	zw.Close()
	sum := sha256.Sum256(body)
	return &staticFile{body: body, gz: gz.Bytes(), etag: `"` + hex.EncodeToString(sum[:8]) + `"`,
		ctype: "text/javascript; charset=utf-8"}, nil
}

func (f *staticFile) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("Content-Type", f.ctype)
	h.Set("Cache-Control", "public, max-age=300")
	h.Set("ETag", f.etag)
	h.Add("Vary", "Accept-Encoding")
	// The loader runs on other sites' pages; let them load it under COEP too.
	h.Set("Cross-Origin-Resource-Policy", "cross-origin")
	if r.Header.Get("If-None-Match") == f.etag {
		w.WriteHeader(http.StatusNotModified)
		return
	}
	if strings.Contains(r.Header.Get("Accept-Encoding"), "gzip") {
		h.Set("Content-Encoding", "gzip")
		w.Write(f.gz)
		return
	}
	w.Write(f.body)
}

// serveFrame serves the chat window. The embedding page's origin comes as ?origin= (the
// window pins its postMessage target to it, so a page lying about it receives nothing);
// the browser enforces the real embedding sites with frame-ancestors.
func (ch *Channel) serveFrame(w http.ResponseWriter, r *http.Request, assets string) {
	origin := r.URL.Query().Get("origin")
	if origin != "" && !ch.origins.allowed(origin, r) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.WriteHeader(http.StatusForbidden)
		fmt.Fprintf(w, "This site (%s) may not embed the chat: add it to server.allowed_origins.\n", origin)
		return
	}
	locale := ch.opts.Locale
	if l := r.URL.Query().Get("locale"); l != "" {
		locale = l
	}
	lang := "en"
	if strings.HasPrefix(strings.ToLower(locale), "zh") {
		lang = "zh-CN"
	}
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Cache-Control", "no-cache")
	h.Set("Content-Security-Policy", "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data: https:; "+
		"connect-src 'self' "+wsOrigins(r)+"; base-uri 'none'; form-action 'none'; frame-ancestors "+ch.origins.frameAncestors())
	var buf bytes.Buffer
	err := widget.Frame.Execute(&buf, widget.FrameData{Lang: lang, Title: ch.opts.Title, Accent: ch.opts.Accent,
		Locale: locale, Assets: assets})
	if err != nil {
		httpx.Error(w, r, http.StatusInternalServerError, fmt.Errorf("web: render frame: %w", err))
		return
	}
	w.Write(buf.Bytes())
}

// wsOrigins names the WebSocket origins of this host for connect-src ('self' covers
// them in CSP 3, not in older browsers).
func wsOrigins(r *http.Request) string {
	host := strings.Map(func(c rune) rune {
		if c == ' ' || c == ';' || c == ',' || c == '\'' {
			return -1
		}
		return c
	}, r.Host)
	return "ws://" + host + " wss://" + host
}

func (ch *Channel) serveDemo(w http.ResponseWriter, r *http.Request) {
	var buf bytes.Buffer
	if err := widget.Demo.Execute(&buf, widget.DemoData{Title: ch.opts.Title}); err != nil {
		httpx.Error(w, r, http.StatusInternalServerError, fmt.Errorf("web: render demo: %w", err))
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-cache")
	w.Write(buf.Bytes())
}
