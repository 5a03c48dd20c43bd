package blob

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestPutThenServeInlineOnlyForMedia(t *testing.T) {
	s, err := New(t.TempDir(), 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	img, err := s.Put(context.Background(), strings.NewReader("\x89PNG fake"), "photo.png", "")
	if err != nil {
		t.Fatal(err)
	}
	page, _ := s.Put(context.Background(), strings.NewReader("<script>alert(1)</script>"), "x.html", "text/html")
	mux := http.NewServeMux()
	mux.Handle("GET /attachments/{key}", s.Handler())
	for _, c := range []struct {
		m           Meta
		disposition string
	}{{img, "inline"}, {page, "attachment"}} {
		rec := httptest.NewRecorder()
		mux.ServeHTTP(rec, httptest.NewRequest("GET", URL(c.m.Key), nil))
		if rec.Code != 200 || !strings.HasPrefix(rec.Header().Get("Content-Disposition"), c.disposition) {
			t.Fatalf("%s: %d disposition %q, want %s", c.m.Name, rec.Code, rec.Header().Get("Content-Disposition"), c.disposition)
		}
		if !strings.Contains(rec.Header().Get("Content-Security-Policy"), "sandbox") {
			t.Fatalf("%s served without a sandbox CSP", c.m.Name)
		}
	}
	if img.MIME != "image/png" {
		t.Fatalf("mime from extension: %q", img.MIME)
	}
	rec := httptest.NewRecorder()
	mux.ServeHTTP(rec, httptest.NewRequest("GET", "/attachments/..%2f..%2fetc%2fpasswd", nil))
	if rec.Code != 404 {
		t.Fatalf("path traversal answered %d", rec.Code)
	}
}

func TestOversizedUploadIsRefusedAndLeavesNothing(t *testing.T) {
	dir := t.TempDir()
	s, _ := New(dir, 10)
	_, err := s.Put(context.Background(), strings.NewReader(strings.Repeat("x", 11)), "big.bin", "")
	if !errors.Is(err, ErrTooLarge) {
		t.Fatalf("err %v, want ErrTooLarge", err)
	}
	entries, _ := (http.Dir(dir)).Open("/")
	list, _ := entries.Readdir(-1)
	if len(list) != 0 {
		t.Fatalf("refused upload left %d files", len(list))
	}
}
