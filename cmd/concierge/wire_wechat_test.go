package main

import (
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/conciergehq/concierge/channels/wechat"
)

func TestServeMountsWeChatCallbacks(t *testing.T) {
	cfg := filepath.Join(t.TempDir(), "concierge.yaml")
	if err := os.WriteFile(cfg, []byte(`
wechat:
  - name: main
    original_id: gh_0123456789ab
    app_id: wx0123456789abcdef
    app_secret: not-used-here
    token: wire-token
    mode: plaintext
    api_url: http://127.0.0.1:1
    reply_budget: 100ms
    kf_secret: kf-secret
    corp_id: ww0123456789abcdef
    kf_token: kf-token
    kf_encoding_aes_key: abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG
    kf_api_url: http://127.0.0.1:1
`), 0o600); err != nil {
		t.Fatal(err)
	}
	base, stop := startServe(t, "--config", cfg)
	defer stop()
	ts := strconv.FormatInt(time.Now().Unix(), 10)
	q := url.Values{"timestamp": {ts}, "nonce": {"n1"}, "signature": {wechat.Signature("wire-token", ts, "n1")}, "echostr": {"e-123"}}
	if code, body := get(t, base+"/wechat/main?"+q.Encode()); code != 200 || body != "e-123" {
		t.Fatalf("URL verification: %d %q", code, body)
	}
	if code, body := get(t, base+"/wechat/other?"+q.Encode()); code != 404 || !strings.Contains(body, `no WeChat account named "other"`) {
		t.Fatalf("unknown account: %d %q, want a 404 that says so", code, body)
	}
	if code, _ := get(t, base+"/wechat/main/kf?"+q.Encode()); code != 401 {
		t.Fatalf("WeCom customer-service callback with a wrong msg_signature: %d, want 401 (mounted and checked)", code)
	}
	body := `<xml><ToUserName><![CDATA[gh_0123456789ab]]></ToUserName><FromUserName><![CDATA[o_1]]></FromUserName>` +
		`<CreateTime>` + ts + `</CreateTime><MsgType><![CDATA[text]]></MsgType><Content><![CDATA[hi]]></Content><MsgId>1</MsgId></xml>`
	resp, err := http.Post(base+"/wechat/main?"+q.Encode(), "text/xml", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("signed message: %d, want 200", resp.StatusCode)
	}
	q.Set("signature", wechat.Signature("other-token", ts, "n2"))
	resp, err = http.Post(base+"/wechat/main?"+q.Encode(), "text/xml", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 401 {
		t.Fatalf("wrong signature: %d, want 401", resp.StatusCode)
	}
}
