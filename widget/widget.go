// Package widget holds the website chat widget's front end: the loader script a site
// embeds (widget.js), the chat window it opens in an iframe (an HTML page plus plain ES
// modules and CSS, no bundler), and the demo product page. Everything is embedded so
// that `go build` makes a complete binary; channels/web serves it.
package widget

import (
	"embed"
	"html/template"
	"io/fs"
)

//go:embed loader.js
var loader []byte

//go:embed ui
var ui embed.FS

//go:embed pages
var pages embed.FS

// Loader is the loader script. It contains the placeholder DefaultsMarker, which the
// server replaces with a JSON object of the configured defaults (title, accent…).
func Loader() []byte { return loader }

// DefaultsMarker is where the loader expects its defaults.
const DefaultsMarker = "/*DEFAULTS*/{}"

// UI is the chat window's static files (chat.js, view.js, i18n.js, chat.css), served
// under a content-hashed URL.
func UI() fs.FS {
	sub, err := fs.Sub(ui, "ui")
	if err != nil {
		panic(err) // the directory is embedded: it exists
	}
	return sub
}

// FrameData fills the chat window page.
type FrameData struct {
	Lang   string // html lang
	Title  string
	Accent string
	Locale string // forced locale, or "" for the browser's
	Assets string // versioned URL directory of UI(), ending in "/"
}

// DemoData fills the demo page.
type DemoData struct {
	Title string
}

var (
	// Frame renders the chat window page (FrameData).
	Frame = template.Must(template.ParseFS(pages, "pages/frame.html"))
	// Demo renders the demo product page (DemoData).
	Demo = template.Must(template.ParseFS(pages, "pages/demo.html"))
)

// Files lists the embedded files of the chat window (the frame page and UI()) and of
// the loader with their contents, for size budgets.
func Files() map[string][]byte {
	out := map[string][]byte{"loader.js": loader}
	b, _ := pages.ReadFile("pages/frame.html")
	out["pages/frame.html"] = b
	_ = fs.WalkDir(ui, "ui", func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			out[p], _ = ui.ReadFile(p)
		}
		return err
	})
	return out
}
