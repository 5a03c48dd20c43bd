package httpx

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"testing/fstest"
	"time"
)

func TestAssetsCarryAContentHashAndCacheOnlyTheCurrentOne(t *testing.T) {
	v1, _ := NewAssets(fstest.MapFS{"app.js": {Data: []byte("export const a = 1")}}, "/ui/assets")
	v2, _ := NewAssets(fstest.MapFS{"app.js": {Data: []byte("export const a = 2")}}, "/ui/assets")
	if v1.URL("app.js") == v2.URL("app.js") {
		t.Fatalf("changed content kept the URL %s", v1.URL("app.js"))
	}
	rec := httptest.NewRecorder()
	v2.ServeHTTP(rec, httptest.NewRequest("GET", v2.URL("app.js"), nil))
	if rec.Code != 200 || rec.Body.String() != "export const a = 2" || !strings.Contains(rec.Header().Get("Cache-Control"), "immutable") {
		t.Fatalf("current asset: %d %q cache=%q", rec.Code, rec.Body, rec.Header().Get("Cache-Control"))
	}
	if ct := rec.Header().Get("Content-Type"); !strings.HasPrefix(ct, "text/javascript") {
		t.Fatalf("content type %q, want text/javascript (module scripts need it)", ct)
	}
	rec = httptest.NewRecorder()
	v2.ServeHTTP(rec, httptest.NewRequest("GET", v1.URL("app.js"), nil))
	if rec.Code != 200 || rec.Header().Get("Cache-Control") != "no-cache" {
		t.Fatalf("stale hash: %d cache=%q, want the file uncached", rec.Code, rec.Header().Get("Cache-Control"))
	}
	for _, p := range []string{"/ui/assets/x/../secret", "/ui/assets/" + "nohash", "/ui/assets/h/missing.js"} {
		rec = httptest.NewRecorder()
		v2.ServeHTTP(rec, httptest.NewRequest("GET", p, nil))
		if rec.Code != http.StatusNotFound {
			t.Fatalf("%s: %d, want 404", p, rec.Code)
		}
	}
}

func TestLimiterAllowsBurstThenRate(t *testing.T) {
	l := NewLimiter(60, 3) // one a second, bursts of three
	now := time.Unix(1000, 0)
	l.now = func() time.Time { return now }
	for i := 0; i < 3; i++ {
		if !l.Allow("a") {
			t.Fatalf("event %d of the burst refused", i)
		}
	}
	if l.Allow("a") {
		t.Fatal("fourth event in the same instant allowed")
	}
	if !l.Allow("b") {
		t.Fatal("another key shares the first key's bucket")
	}
	now = now.Add(time.Second)
	if !l.Allow("a") || l.Allow("a") {
		t.Fatal("after one second exactly one more event should pass")
	}
}

func TestDecodeJSONSaysWhatIsWrong(t *testing.T) {
	cases := map[string]string{
		`{"a": 1`:          "malformed",
		`{"b": 1}`:         "unknown field",
		`{"a": "x"}`:       `field "a"`,
		`{"a": 1} {"a":2}`: "trailing",
		``:                 "empty body",
		`{"a": 1, "pad": "` + strings.Repeat("x", 100) + `"}`: "larger than",
	}
	for body, want := range cases {
		var v struct {
			A int `json:"a"`
		}
		r := httptest.NewRequest("POST", "/", strings.NewReader(body))
		err := DecodeJSON(httptest.NewRecorder(), r, &v, 64)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("body %.20q: error %v, want it to mention %q", body, err, want)
		}
	}
}
