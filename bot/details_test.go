package bot

import (
	"maps"
	"regexp"
	"testing"

	"github.com/conciergehq/concierge/kb"
)

func TestExtractDetails(t *testing.T) {
	d := NewDetails()
	cases := []struct {
		text string
		want map[string]string
	}{
		{"my order 123456 has not arrived", map[string]string{"order_number": "123456"}},
		{"Order #A-99812 arrived broken", map[string]string{"order_number": "A-99812"}},
		{"order number: ORD-2024001", map[string]string{"order_number": "ORD-2024001"}},
		{"订单号：20240518001 还没发货", map[string]string{"order_number": "20240518001"}},
		{"write to ana.lee+shop@example.co.uk please", map[string]string{"email": "ana.lee+shop@example.co.uk"}},
		{"call me on +44 20 7946 0958", map[string]string{"phone": "+44 20 7946 0958"}},
		{"我的手机 13812345678", map[string]string{"phone": "13812345678"}},
		{"instance i-0abc1234def567890 in eu-west-1 is down", map[string]string{"instance_id": "i-0abc1234def567890", "region": "eu-west-1"}},
		{"cannot reach 203.0.113.7 from my office", map[string]string{"ip_address": "203.0.113.7"}},
		{"ping 2001:db8::1 fails", map[string]string{"ip_address": "2001:db8::1"}},
		{"the page https://shop.example.com/cart?id=3 shows error 502", map[string]string{"url": "https://shop.example.com/cart?id=3", "error_code": "502"}},
		{"I get E4012 when I log in", map[string]string{"error_code": "E4012"}},
		{"错误码：ERR-1007", map[string]string{"error_code": "ERR-1007"}},
		{"account id: AC-10293, can't log in", map[string]string{"account_id": "AC-10293"}},
		// Things that must not be taken for details.
		{"I waited 3 days and paid 25.50 euros", map[string]string{}},
		{"it happened on 2024-05-18", map[string]string{}},
		{"999.1.1.1 is not an address", map[string]string{}},
		{"my card is not working", map[string]string{}},
	}
	for _, c := range cases {
		got := d.Extract(c.text)
		if !maps.Equal(got, c.want) {
			t.Errorf("Extract(%q) = %v, want %v", c.text, got, c.want)
		}
	}
}

func TestValidateDetailReplies(t *testing.T) {
	d := NewDetails()
	article, err := d.ForArticle(kb.Detail{Name: "membership", Pattern: `M-\d{6}`, Example: "M-123456"})
	if err != nil {
		t.Fatal(err)
	}
	custom := NewDetails(DetailKind{Name: "ticket", Find: regexp.MustCompile(`\b(TCK-\d{5})\b`), Valid: regexp.MustCompile(`^TCK-\d{5}$`)})
	cases := []struct {
		kind  *DetailKind
		reply string
		want  string
		ok    bool
	}{
		{d.Kind("order_number"), "123456", "123456", true},
		{d.Kind("order_number"), "it's order 778899.", "778899", true},
		{d.Kind("order_number"), "I don't know", "", false},
		{d.Kind("email"), "ana@example.com", "ana@example.com", true},
		{d.Kind("email"), "ana at example", "", false},
		{d.Kind("ip_address"), "10.0.0.300", "", false},
		{d.Kind("ip_address"), "10.0.0.30", "10.0.0.30", true},
		{d.Kind("region"), "eu-west-1", "eu-west-1", true},
		{d.Kind("error_code"), "E-1234", "E-1234", true},
		{d.Kind("error_code"), "ACCESS_DENIED", "ACCESS_DENIED", true},
		{d.Kind("error_code"), "nope", "", false},
		{d.Kind("order_number"), "it's 7700123", "7700123", true},
		{d.Kind("order_number"), "either 123456 or 654321", "", false},
		{d.Kind("url"), "https://example.com/x", "https://example.com/x", true},
		{d.Kind("url"), "not a url", "", false},
		{d.Kind("phone"), "12-34", "", false},
		{d.Kind("phone"), "555-0100", "555-0100", true},
		{d.Kind("phone"), "+1 (555) 010-0199", "+1 (555) 010-0199", true},
		{article, "M-123456", "M-123456", true},
		{article, "123456", "", false},
		{article, "it is M-123456 I think", "M-123456", true},
		{custom.Kind("ticket"), "my ticket is TCK-12345", "TCK-12345", true},
		{d.Kind("free_text_detail"), "Berlin office", "Berlin office", true},
	}
	for _, c := range cases {
		got, ok := c.kind.Validate(c.reply)
		if got != c.want || ok != c.ok {
			t.Errorf("%s.Validate(%q) = %q, %v; want %q, %v", c.kind.Name, c.reply, got, ok, c.want, c.ok)
		}
	}
	if got := custom.Extract("see TCK-54321 and order 123456"); got["ticket"] != "TCK-54321" || got["order_number"] != "123456" {
		t.Errorf("custom kind extraction = %v", got)
	}
	for range 2 { // the second time from the cache of compiled patterns
		if _, err := d.ForArticle(kb.Detail{Name: "x", Pattern: "("}); err == nil {
			t.Error("a broken article pattern must be an error")
		}
	}
	// Another article with the same pattern shares the compiled pattern, not the rest.
	other, err := d.ForArticle(kb.Detail{Name: "membership", Pattern: `M-\d{6}`, Example: "M-000001"})
	if err != nil || other.Valid != article.Valid || other.Example != "M-000001" || article.Example != "M-123456" {
		t.Errorf("second article: %v, same pattern %v, examples %q %q", err, other.Valid == article.Valid, other.Example, article.Example)
	}
}
