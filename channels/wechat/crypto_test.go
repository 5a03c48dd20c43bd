package wechat

import (
	"bytes"
	"encoding/base64"
	"errors"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/conciergehq/concierge"
)

func TestSignatureMatchesTheReferenceVector(t *testing.T) {
	// PROTOCOLS.md §1: token123 / 1700000000 / nonce456.
	const want = "909c54b033aeb0f9d3caf5f0b18e1b2e0555f122"
	if got := Signature("token123", "1700000000", "nonce456"); got != want {
		t.Fatalf("Signature = %s, want %s", got, want)
	}
	// The parts are sorted, so their order does not matter.
	if got := Signature("nonce456", "token123", "1700000000"); got != want {
		t.Fatalf("Signature of reordered parts = %s, want %s", got, want)
	}
	if !validSignature(strings.ToUpper(want), "token123", "1700000000", "nonce456") {
		t.Fatal("an upper-case hex signature was refused")
	}
	if validSignature(want[:39]+"0", "token123", "1700000000", "nonce456") || validSignature("", "token123", "1700000000", "nonce456") {
		t.Fatal("a wrong signature was accepted")
	}
}

func TestCipherFollowsTheSafeModeLayout(t *testing.T) {
	c, err := NewCipher(testAESKey, testAppID)
	if err != nil {
		t.Fatal(err)
	}
	for _, size := range []int{0, 1, 5, 11, 12, 43, 1000} {
		// 16 random + 4 length + 18 app id = 38; size 26 makes the plaintext 64 (aligned).
		msg := bytes.Repeat([]byte("m"), size)
		got, appID := testDecrypt(t, c.Encrypt(msg))
		if !bytes.Equal(got, msg) || appID != testAppID {
			t.Fatalf("size %d: independent decryption gave %q / %q", size, got, appID)
		}
		back, err := c.Decrypt(testEncrypt(t, msg, testAppID))
		if err != nil || !bytes.Equal(back, msg) {
			t.Fatalf("size %d: Decrypt of an independently built ciphertext = %q, %v", size, back, err)
		}
	}
	// An aligned plaintext gets a whole block of padding (32 bytes of 32).
	aligned := bytes.Repeat([]byte("a"), 64-20-len(testAppID))
	if n := len(mustDecode(t, c.Encrypt(aligned))); n != 96 {
		t.Fatalf("aligned 64-byte plaintext encrypted to %d bytes, want 96 (a full 32-byte pad)", n)
	}
	// Two encryptions of one message differ (random prefix).
	if c.Encrypt([]byte("x")) == c.Encrypt([]byte("x")) {
		t.Fatal("encryption is deterministic; the 16-byte prefix must be random")
	}
}

func TestCipherRefusesDamagedInput(t *testing.T) {
	c, _ := NewCipher(testAESKey, testAppID)
	other, _ := NewCipher(testAESKey, "wxsomeoneelse00000")
	good := c.Encrypt([]byte("<xml/>"))
	raw := mustDecode(t, good)
	flipped := append([]byte(nil), raw...)
	flipped[len(flipped)-1] ^= 0xff // damages the last block, so the padding
	cases := map[string]struct {
		in   string
		want error
	}{
		"not base64":           {"%%%", errBadCiphertext},
		"not whole AES blocks": {b64(raw[:len(raw)-3]), errBadCiphertext},
		"empty":                {"", errBadCiphertext},
		"damaged padding":      {b64(flipped), errBadPadding},
		"another app id":       {other.Encrypt([]byte("<xml/>")), errWrongAppID},
	}
	for name, tc := range cases {
		if _, err := c.Decrypt(tc.in); !errors.Is(err, tc.want) {
			t.Errorf("%s: err = %v, want %v", name, err, tc.want)
		}
	}
	if _, err := NewCipher("short", testAppID); err == nil {
		t.Error("a key of the wrong length was accepted")
	}
}

func TestSplitKeepsPiecesUnderTheLimitAndCharactersWhole(t *testing.T) {
	zh := strings.Repeat("请检查您的订单号是否正确。", 400) // 3-byte characters, sentence ends
	words := strings.Repeat("lorem ipsum dolor ", 500)
	paras := strings.Repeat(strings.Repeat("x", 900)+"\n\n", 6)
	solid := strings.Repeat("语", 3000) // no break at all
	for name, s := range map[string]string{"chinese": zh, "words": words, "paragraphs": paras, "solid": solid} {
		parts := splitText(s, maxTextBytes)
		if len(parts) < 2 {
			t.Fatalf("%s: %d bytes not split", name, len(s))
		}
		total := 0
		for i, p := range parts {
			if len(p) > maxTextBytes || !utf8.ValidString(p) || p == "" {
				t.Fatalf("%s: part %d has %d bytes (valid UTF-8: %v)", name, i, len(p), utf8.ValidString(p))
			}
			total += len(strings.Join(strings.Fields(p), ""))
		}
		if want := len(strings.Join(strings.Fields(s), "")); total != want {
			t.Fatalf("%s: parts hold %d non-space bytes, want %d: text lost or duplicated", name, total, want)
		}
	}
	if parts := splitText(zh, maxTextBytes); !strings.HasSuffix(parts[0], "。") {
		t.Errorf("Chinese text not cut at a sentence end: …%q", parts[0][len(parts[0])-9:])
	}
	if got := splitText("  short  ", maxTextBytes); len(got) != 1 || got[0] != "short" {
		t.Errorf("short text split into %q", got)
	}
}

func TestChoicesAreNumberedAndReadBack(t *testing.T) {
	helped := []concierge.QuickReply{{Label: "Yes", Payload: "yes"}, {Label: "No", Payload: "no"}}
	out := render(concierge.Message{Sender: concierge.SenderBot, Text: "Did this help?", QuickReplies: helped}, "en")
	if len(out) != 1 || !strings.Contains(out[0], "1. Yes\n2. No") || !strings.Contains(out[0], "Reply with the number") {
		t.Fatalf("rendered %q", out)
	}
	if zh := render(concierge.Message{Text: "有帮助吗？", QuickReplies: helped}, "zh-CN"); !strings.Contains(zh[0], "请回复") {
		t.Fatalf("Chinese conversation got the English hint: %q", zh)
	}
	// A survey listed best first still numbers each option with its rating.
	csat := []concierge.QuickReply{{Label: "Excellent", Payload: "csat:5"}, {Label: "Good", Payload: "csat:4"},
		{Label: "OK", Payload: "csat:3"}, {Label: "Poor", Payload: "csat:2"}, {Label: "Bad", Payload: "csat:1"}}
	out = render(concierge.Message{Sender: concierge.SenderSystem, Text: "How did we do?", QuickReplies: csat}, "")
	if !strings.Contains(out[0], "5. Excellent") || !strings.Contains(out[0], "1. Bad") {
		t.Fatalf("survey rendered %q: options must carry their rating", out)
	}
	for in, want := range map[string]string{"2": "no", " 1 ": "yes", "２": "no", "1.": "yes", "3": "", "yes": "", "12": ""} {
		q, ok := chosen(helped, in)
		if got := map[bool]string{true: q.Payload}[ok]; got != want {
			t.Errorf("chosen(%q) = %q, want %q", in, got, want)
		}
	}
	if q, ok := chosen(csat, "4"); !ok || q.Payload != "csat:4" {
		t.Errorf("survey answer 4 picked %+v", q)
	}
}

func TestAgentMessagesCarryTheAgentsNameAndNeverHTML(t *testing.T) {
	out := render(concierge.Message{Sender: concierge.SenderAgent, SenderName: "Ann", Text: "Refund sent.",
		HTML: "<p>Refund <b>sent</b>.</p>"}, "")
	if len(out) != 1 || out[0] != "Ann: Refund sent." {
		t.Fatalf("agent message rendered %q", out)
	}
	// Files that cannot travel are named, not dropped; our own pictures are sent apart.
	out = render(concierge.Message{Sender: concierge.SenderAgent, SenderName: "Ann", Text: "See attached.",
		Attachments: []concierge.Attachment{{Kind: "file", URL: "/attachments/0123", Name: "invoice.pdf"},
			{Kind: "image", URL: "/attachments/4567", Name: "shot.png"}, {Kind: "link", URL: "https://example.com/t", Name: "Tracking"}}}, "")
	if len(out) != 1 || out[0] != "Ann: See attached.\n[invoice.pdf cannot be sent over WeChat]\nTracking: https://example.com/t" {
		t.Fatalf("attachments rendered %q", out)
	}
}

func mustDecode(t *testing.T, s string) []byte {
	t.Helper()
	b, err := b64dec(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func b64(b []byte) string { return base64.StdEncoding.EncodeToString(b) }

func b64dec(s string) ([]byte, error) { return base64.StdEncoding.DecodeString(s) }
