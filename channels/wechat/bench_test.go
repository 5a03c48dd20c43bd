package wechat

import (
	"fmt"
	"net/url"
	"strconv"
	"testing"
	"time"
)

// BenchmarkOpenSafeMode measures what every safe-mode callback costs before it reaches
// the store: msg_signature, AES decryption and XML decoding.
func BenchmarkOpenSafeMode(b *testing.B) {
	c, _ := NewCipher(testAESKey, testAppID)
	a := &Account{cfg: Config{Token: testToken, OriginalID: testOrigID, AppID: testAppID, Mode: "safe"}, cipher: c}
	ts := strconv.FormatInt(time.Now().Unix(), 10)
	enc := c.Encrypt([]byte(xmlOf(text("o_bench", "where is my order? 我的订单在哪里", "1"))))
	q := url.Values{"timestamp": {ts}, "nonce": {"n"}, "encrypt_type": {"aes"}, "msg_signature": {Signature(testToken, ts, "n", enc)}}
	body := []byte("<xml><ToUserName><![CDATA[" + testOrigID + "]]></ToUserName><Encrypt><![CDATA[" + enc + "]]></Encrypt></xml>")
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		if _, _, err := a.open(q, body); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkCallbackToPassiveReply measures a whole safe-mode callback over HTTP: checks,
// decryption, the message stored, the (instant) bot's answer stored and delivered as the
// encrypted passive reply. WeChat allows 5s; the default budget is 3s.
func BenchmarkCallbackToPassiveReply(b *testing.B) {
	h := newHarness(b, harnessOpts{mode: "safe"})
	passive := 0
	i := 0
	b.ResetTimer()
	for b.Loop() {
		i++
		_, reply := h.call(text(fmt.Sprintf("o_%d", i%50), "question "+strconv.Itoa(i), strconv.Itoa(i)), callOpts{})
		if reply != "" {
			passive++
		}
	}
	b.ReportMetric(float64(b.Elapsed().Milliseconds())/float64(i), "ms/callback")
	b.ReportMetric(100*float64(passive)/float64(i), "%passive")
}
