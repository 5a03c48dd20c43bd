package wechat

import (
	"errors"
	"net/http"
	"net/url"
	"reflect"
	"strconv"
	"testing"
	"time"
)

// FuzzCallback feeds arbitrary bytes through the callback's XML and decryption path:
//
//	mode 0: the body of a plaintext-mode callback;
//	mode 1: the inner XML of a safe-mode callback, encrypted and signed correctly;
//	mode 2: the Encrypt value itself (any bytes), signed correctly.
//
// It must never panic, refuse only with 400/401/403, and accept only well-formed
// callbacks addressed to the account. The seeds in testdata/fuzz/FuzzCallback run with
// every go test.
func FuzzCallback(f *testing.F) {
	c, err := NewCipher(testAESKey, testAppID)
	if err != nil {
		f.Fatal(err)
	}
	plain := &Account{cfg: Config{Token: testToken, OriginalID: testOrigID, AppID: testAppID, Mode: "plaintext"}, cipher: c}
	safe := &Account{cfg: Config{Token: testToken, OriginalID: testOrigID, AppID: testAppID, Mode: "safe"}, cipher: c}
	ts := strconv.FormatInt(time.Now().Unix(), 10)
	f.Fuzz(func(t *testing.T, mode byte, data []byte) {
		q := url.Values{"timestamp": {ts}, "nonce": {"fuzz"}}
		var m *callback
		var err error
		switch mode % 3 {
		case 0:
			m, _, err = plain.open(q, data)
		case 1:
			enc := c.Encrypt(data)
			q.Set("encrypt_type", "aes")
			q.Set("msg_signature", Signature(testToken, ts, "fuzz", enc))
			m, _, err = safe.open(q, []byte("<xml><Encrypt><![CDATA["+enc+"]]></Encrypt></xml>"))
			if err == nil {
				// What was decrypted is exactly what was encrypted.
				want, perr := parseCallback(data)
				if perr != nil || !reflect.DeepEqual(m, want) {
					t.Fatalf("decrypted callback %+v differs from the plaintext's %+v (%v)", m, want, perr)
				}
			}
		case 2:
			enc := string(data)
			q.Set("encrypt_type", "aes")
			q.Set("msg_signature", Signature(testToken, ts, "fuzz", enc))
			var b []byte
			b = append(b, "<xml><Encrypt>"...)
			b = append(b, xmlEscape(enc)...)
			b = append(b, "</Encrypt></xml>"...)
			m, _, err = safe.open(q, b)
		}
		if err != nil {
			var rf *refusal
			if !errors.As(err, &rf) || (rf.status != http.StatusBadRequest && rf.status != http.StatusUnauthorized && rf.status != http.StatusForbidden) {
				t.Fatalf("refusal %v (%T) is not a 400, 401 or 403", err, err)
			}
			return
		}
		if m.ToUserName != testOrigID || m.FromUserName == "" || m.MsgType == "" {
			t.Fatalf("accepted %+v: not addressed to the account or incomplete", m)
		}
		_ = m.dedupeKey()
	})
}

func xmlEscape(s string) []byte {
	var out []byte
	for _, r := range s {
		switch r {
		case '<':
			out = append(out, "&lt;"...)
		case '&':
			out = append(out, "&amp;"...)
		default:
			out = append(out, string(r)...)
		}
	}
	return out
}
