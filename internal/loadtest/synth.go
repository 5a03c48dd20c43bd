package loadtest

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
)

// The synthetic knowledge base for the W3/W4 runs: help-center articles about one of 25
// problems with one of many products, so articles share most of their vocabulary the
// way a real help center's do and the bot has to tell "reset the password in Quilldesk"
// from "reset the password in Tallyboard".

var products = strings.Fields(`Quilldesk Tallyboard Orbitdrive Pulsecrm Ledgerly Mosaicsite Harborvpn Sparkmail
Fieldbook Canopydb Beaconpay Driftchat Keystone Lumenstore Meridian Northwind Outpost Prismdocs Quartzcal Ripple
Sable Tundra Umbra Vantage Willow Xenon Yarrow Zephyr Alderpos Brightform Cobaltci Dunepay Emberlog Fernsync
Glacierfs Hollowmq Ironwiki Junipercdn Kestrelauth Larchbi`)

type problem struct {
	slug, title string
	questions   []string // %s is the product
	held        string   // a phrasing that is not among the article's questions
	body        string
	team        string
}

var problems = []problem{
	{"password-reset", "Reset your %s password", []string{"how do I reset my %s password", "forgot my %s password", "change password in %s"}, "I can't remember the password for %s, what now", "Open the %s sign-in page and choose **Forgot password**. We email a link that is valid for one hour.", "general"},
	{"login-locked", "%s account locked after failed sign-ins", []string{"my %s account is locked", "too many login attempts on %s", "%s says account temporarily disabled"}, "%s locked me out after I typed the wrong password", "After ten failed sign-ins %s locks the account for 30 minutes. The lock lifts by itself.", "general"},
	{"two-factor", "Set up two-factor authentication in %s", []string{"enable 2fa on %s", "turn on two-factor in %s", "%s authenticator app setup"}, "how can I protect my %s login with a code from my phone", "In %s open **Security → Two-factor** and scan the QR code with an authenticator app.", "security"},
	{"invoice-download", "Download invoices for %s", []string{"where are my %s invoices", "download %s invoice pdf", "%s billing history"}, "I need a receipt for my %s subscription for accounting", "Invoices for %s are under **Billing → Invoices**; each one downloads as a PDF.", "billing"},
	{"refund", "Request a refund for %s", []string{"can I get a refund for %s", "%s refund policy", "money back for %s"}, "I was charged for %s but I want my money back", "Within 14 days of a charge you can ask for a %s refund from **Billing → Charges**.", "billing"},
	{"double-charge", "Charged twice for %s", []string{"%s charged me twice", "double charge on my card for %s", "duplicate %s payment"}, "there are two identical %s payments on my statement", "A second %s charge is usually a pending authorisation that disappears within 3 days.", "billing"},
	{"cancel", "Cancel your %s subscription", []string{"how do I cancel %s", "stop my %s subscription", "%s cancel plan"}, "I don't want %s anymore, how do I end it", "Cancel %s under **Billing → Plan → Cancel**. You keep access until the period ends.", "billing"},
	{"upgrade", "Upgrade or change your %s plan", []string{"upgrade my %s plan", "switch %s to the annual plan", "%s pricing tiers"}, "I need more seats in %s", "Change the %s plan under **Billing → Plan**; upgrades are prorated.", "billing"},
	{"export-data", "Export your data from %s", []string{"export all my %s data", "download a backup of %s", "%s data export csv"}, "how can I get everything out of %s into a file", "Under **Settings → Export** %s prepares a ZIP of CSV files and emails a link.", "technical"},
	{"import-data", "Import data into %s", []string{"import a csv into %s", "migrate my data to %s", "%s bulk import"}, "I have a spreadsheet I want to load into %s", "Use **Settings → Import** in %s. Files up to 50 MB; columns are matched by header.", "technical"},
	{"api-key", "Create an API key for %s", []string{"where do I get a %s api key", "generate %s api token", "%s api authentication"}, "I want to call %s from my own script, how do I authenticate", "Create %s API keys under **Developer → API keys**; send them as a Bearer token.", "technical"},
	{"rate-limit", "%s API rate limits", []string{"%s api returns 429", "too many requests from the %s api", "%s api limit per minute"}, "my integration with %s keeps getting throttled", "The %s API allows 600 requests per minute per key; a 429 carries Retry-After.", "technical"},
	{"webhook", "Receive webhooks from %s", []string{"set up a %s webhook", "%s webhook not firing", "%s webhook signature"}, "I want %s to notify my server when something changes", "Add a webhook endpoint in %s under **Developer → Webhooks**; payloads are signed with HMAC-SHA256.", "technical"},
	{"slow", "%s is slow", []string{"%s is very slow today", "%s pages take long to load", "%s performance problems"}, "everything in %s takes ages to respond", "Check the %s status page first; clearing the browser cache helps with a slow dashboard.", "technical"},
	{"outage", "%s is down or not loading", []string{"%s is down", "cannot reach %s", "%s shows error 503"}, "%s won't open at all right now", "When %s does not load, check the status page; incidents are posted there within 5 minutes.", "technical"},
	{"mobile-app", "Use %s on your phone", []string{"is there a %s mobile app", "%s app for android", "%s on iphone"}, "can I use %s from my phone", "The %s app is in the App Store and Google Play; sign in with the same account.", "general"},
	{"notifications", "Turn %s notifications on or off", []string{"stop %s emails", "too many notifications from %s", "%s notification settings"}, "%s keeps sending me messages I do not want", "Choose which %s notifications you get under **Settings → Notifications**.", "general"},
	{"invite-team", "Invite teammates to %s", []string{"add a user to %s", "invite my team to %s", "%s add colleague"}, "how do I give my coworker access to %s", "Invite people to %s from **Team → Invite**; they get an email to join.", "general"},
	{"remove-user", "Remove a user from %s", []string{"delete a user in %s", "remove someone from my %s team", "%s revoke access"}, "an employee left and must lose access to %s", "Remove a member of %s in **Team → Members → Remove**; their sessions end at once.", "security"},
	{"sso", "Single sign-on for %s", []string{"%s saml sso", "connect %s to okta", "%s single sign-on setup"}, "can my company log in to %s with our identity provider", "%s supports SAML 2.0 and OIDC single sign-on on the Business plan.", "technical"},
	{"delete-account", "Delete your %s account", []string{"delete my %s account", "close %s account permanently", "remove all my data from %s"}, "I want %s to erase everything about me", "Delete a %s account under **Settings → Account → Delete**; data is erased within 30 days.", "general"},
	{"change-email", "Change the email address of your %s account", []string{"change my %s email", "update %s login email", "%s new email address"}, "I got a new email address and need it in %s", "Change the %s sign-in email under **Settings → Profile**; we confirm the new address.", "general"},
	{"data-region", "Where %s stores your data", []string{"where is %s data stored", "%s data residency eu", "%s gdpr region"}, "is my %s data kept in Europe", "%s stores data in the region chosen at sign-up: EU (Frankfurt) or US (Virginia).", "security"},
	{"integration", "Connect %s to other tools", []string{"%s slack integration", "connect %s to zapier", "%s integrations list"}, "can %s talk to the other apps we use", "%s integrates with Slack, Zapier and Google Workspace from **Settings → Integrations**.", "technical"},
	{"trial", "The %s free trial", []string{"how long is the %s trial", "%s free trial ended", "extend %s trial"}, "do I have to pay to try %s", "The %s trial lasts 14 days with every feature; no card is needed to start.", "billing"},
}

// MakeKB writes a synthetic knowledge base of n articles to dir (Markdown files with
// front matter, as `concierge kb import` reads them) and two question files beside them
// in the format of `concierge bot test` and `concierge loadtest --questions`:
// questions.jsonl asks each article one of its own sample questions (the load: what
// customers ask most), heldout.jsonl asks a phrasing that is in no article (a harder
// test of the bot on this KB). It returns questions.jsonl's path.
func MakeKB(dir string, n int, seed uint64) (string, error) {
	if n <= 0 || n > len(products)*len(problems) {
		return "", fmt.Errorf("loadtest: make-kb: between 1 and %d articles", len(products)*len(problems))
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", fmt.Errorf("loadtest: make-kb: %w", err)
	}
	rng := rand.New(rand.NewPCG(seed, 1))
	qpath := filepath.Join(dir, "questions.jsonl")
	qf, err := os.Create(qpath)
	if err != nil {
		return "", fmt.Errorf("loadtest: make-kb: %w", err)
	}
	defer qf.Close()
	hf, err := os.Create(filepath.Join(dir, "heldout.jsonl"))
	if err != nil {
		return "", fmt.Errorf("loadtest: make-kb: %w", err)
	}
	defer hf.Close()
	enc, held := json.NewEncoder(qf), json.NewEncoder(hf)
	for i := 0; i < n; i++ {
		pr := problems[i%len(problems)]
		prod := products[i/len(problems)]
		id := strings.ToLower(prod) + "-" + pr.slug
		var b strings.Builder
		fmt.Fprintf(&b, "---\nid: %s\ntitle: %q\nlang: en\nstatus: published\nteam: %s\ntags: [%s, %s]\nquestions:\n",
			id, fmt.Sprintf(pr.title, prod), pr.team, strings.ToLower(prod), pr.slug)
		for _, q := range pr.questions {
			fmt.Fprintf(&b, "  - %q\n", fmt.Sprintf(q, prod))
		}
		fmt.Fprintf(&b, "---\n\n%s\n\n", fmt.Sprintf(pr.body, prod))
		// A second paragraph drawn at random, so no two bodies are the same text.
		fmt.Fprintf(&b, "If this does not solve it, write to us from inside %s with the time it happened "+
			"and what you saw; reference %04d helps us find it.\n", prod, rng.IntN(10000))
		if err := os.WriteFile(filepath.Join(dir, id+".md"), []byte(b.String()), 0o644); err != nil {
			return "", fmt.Errorf("loadtest: make-kb: %w", err)
		}
		if err := enc.Encode(map[string]string{"text": fmt.Sprintf(pr.questions[i%len(pr.questions)], prod), "expect": id}); err != nil {
			return "", fmt.Errorf("loadtest: make-kb: %w", err)
		}
		if err := held.Encode(map[string]string{"text": fmt.Sprintf(pr.held, prod), "expect": id}); err != nil {
			return "", fmt.Errorf("loadtest: make-kb: %w", err)
		}
	}
	if err := qf.Close(); err != nil {
		return "", fmt.Errorf("loadtest: make-kb: %w", err)
	}
	if err := hf.Close(); err != nil {
		return "", fmt.Errorf("loadtest: make-kb: %w", err)
	}
	return qpath, nil
}

// ReadQuestions reads the "text" of every line of a JSON-lines file.
func ReadQuestions(data []byte) ([]string, error) {
	var out []string
	for i, line := range strings.Split(string(data), "\n") {
		line = strings.TrimSpace(line)
		if line == "" {
			continue
		}
		var q struct {
			Text string `json:"text"`
		}
		if err := json.Unmarshal([]byte(line), &q); err != nil {
			return nil, fmt.Errorf("line %d: %w", i+1, err)
		}
		if strings.TrimSpace(q.Text) == "" {
			return nil, fmt.Errorf("line %d: no \"text\"", i+1)
		}
		out = append(out, q.Text)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("no questions")
	}
	return out, nil
}
