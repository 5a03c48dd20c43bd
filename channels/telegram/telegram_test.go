package telegram

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	tgbotapi "github.com/go-telegram-bot-api/telegram-bot-api/v5"

	"github.com/conciergehq/concierge"
	"github.com/conciergehq/concierge/channels"
	"github.com/conciergehq/concierge/channels/telegram/telegramtest"
	"github.com/conciergehq/concierge/internal/store"
)

func TestPollingGreetsOnStartKeepsTheDeepLinkAndAnswersWithAKeyboard(t *testing.T) {
	h := newHarness(t, nil)
	h.fake.Push(telegramtest.Text(1, 42, "Ada", "/start promo_spring"))
	greet := h.sent(1)
	if greet.Params.Get("chat_id") != "42" || greet.Params.Get("text") != "Hello! How can I help?" || greet.Params.Get("parse_mode") != "HTML" {
		t.Fatalf("greeting = %v; want the bot's greeting to chat 42 in HTML mode", greet.Params)
	}
	conv := h.conversation("42")
	if conv.Meta["start"] != "promo_spring" {
		t.Fatalf("conversation meta = %v; want the deep-link payload under start", conv.Meta)
	}
	first := h.userMessages("42")[0]
	if first.Action() != concierge.ActionStart || first.ExternalID != "42:1" {
		t.Fatalf("stored /start = %+v; want action start with external id 42:1", first)
	}
	contact, _ := h.st.ContactByExternal(context.Background(), "telegram:support", "42")
	if contact.Name != "Ada" || contact.Attributes["language"] != "en" || contact.Verified {
		t.Fatalf("contact = %+v; want name Ada, language en, unverified", contact)
	}

	h.fake.Push(telegramtest.Text(2, 42, "Ada", "How do I reset my password?"))
	answer := h.sent(2)
	if !strings.HasPrefix(answer.Params.Get("text"), "Answer to: How do I reset my password?") {
		t.Fatalf("answer = %q", answer.Params.Get("text"))
	}
	kb := telegramtest.Keyboard(t, answer)
	if kb == nil || len(kb.InlineKeyboard) != 1 || len(kb.InlineKeyboard[0]) != 2 ||
		*kb.InlineKeyboard[0][0].CallbackData != "helpful:yes" || kb.InlineKeyboard[0][1].Text != "No" {
		t.Fatalf("keyboard = %+v; want one row Yes/No with the payloads as callback data", kb)
	}

	// The poll loop: long-poll timeout set, allowed_updates named, offsets confirming.
	h.fake.WaitUntil(t, "a poll confirming both updates", func() bool {
		polls := h.fake.Calls("getUpdates")
		return polls[len(polls)-1].Params.Get("offset") == "1003"
	})
	p := h.fake.Calls("getUpdates")[0].Params
	var allowed []string
	if err := json.Unmarshal([]byte(p.Get("allowed_updates")), &allowed); err != nil || !contains(allowed, "callback_query") || !contains(allowed, "edited_message") {
		t.Fatalf("allowed_updates = %q; want a JSON list with message kinds", p.Get("allowed_updates"))
	}
	if p.Get("timeout") != "5" || p.Get("offset") != "" {
		t.Fatalf("first poll = %v; want the configured long-poll timeout and no offset yet", p)
	}
	if v, _ := h.st.ChannelState(context.Background(), "telegram:support", store.TelegramOffsetKey); v != "1003" {
		t.Fatalf("stored offset = %q; want 1003", v)
	}
	if len(h.fake.Calls("deleteWebhook")) == 0 {
		t.Fatal("polling did not clear a webhook first (getUpdates would answer 409)")
	}
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

func TestDuplicateUpdatesAreProcessedOnce(t *testing.T) {
	h := newHarness(t, nil)
	u := telegramtest.Text(7, 42, "Ada", "hello")
	u.UpdateID = h.fake.NextUpdateID()
	h.fake.Push(u, u) // Telegram (or a replay) hands the same update twice
	h.sent(1)
	h.fake.Push(telegramtest.Text(8, 42, "Ada", "say done")) // a marker after the duplicate
	h.sent(2)
	if got := h.texts(); len(got) != 2 || got[1] != "done" {
		t.Fatalf("sent %q; want one answer to the duplicated update, then the marker", got)
	}
	if ms := h.userMessages("42"); len(ms) != 2 {
		t.Fatalf("stored %d user messages; want 2", len(ms))
	}
}

func TestRestartMidStreamLosesNothingAndRepeatsNothing(t *testing.T) {
	h := newHarness(t, nil)
	h.fake.Push(telegramtest.Text(1, 42, "Ada", "say one"))
	h.sent(1)
	h.waitDelivered("42")
	h.stop()

	// Down: two more updates arrive at Telegram.
	h.fake.Push(telegramtest.Text(2, 42, "Ada", "say two"), telegramtest.Text(3, 43, "Bob", "say three"))
	// The crash windows: update 4 was fetched and stored (offset moved) but not processed;
	// update 5 was stored and already received by the gateway, but not marked done.
	ups := h.fake.Push(telegramtest.Text(4, 42, "Ada", "say four"), telegramtest.Text(5, 43, "Bob", "say five"))
	st, err := store.Open(context.Background(), h.dbPath, testLog(t), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	var rows []store.TelegramUpdate
	for _, u := range ups {
		b, _ := json.Marshal(u)
		row, _ := inboxRow(b)
		rows = append(rows, row)
	}
	if _, err := st.TelegramEnqueue(context.Background(), "telegram:support", rows, 0); err != nil {
		t.Fatal(err)
	}
	if _, err := st.Receive(context.Background(), concierge.Inbound{Channel: "telegram:support", ContactID: "43", MessageID: "43:5", Text: "say five"}); err != nil {
		t.Fatal(err)
	}
	st.Close()

	h.start()
	h.waitFor("all five answers", func() bool { return len(h.texts()) >= 5 })
	h.fake.WaitUntil(t, "Telegram told every update is confirmed", func() bool { return h.fake.Unconfirmed() == 0 })
	h.fake.Push(telegramtest.Text(6, 42, "Ada", "say six"))
	h.sent(6)
	count := map[string]int{}
	for _, s := range h.texts() {
		count[s]++
	}
	for _, w := range []string{"one", "two", "three", "four", "five", "six"} {
		if count[w] != 1 {
			t.Fatalf("answers %v; want each of one..six exactly once", count)
		}
	}
	if n := len(h.userMessages("42")) + len(h.userMessages("43")); n != 6 {
		t.Fatalf("stored %d user messages; want 6", n)
	}
}

func TestWebhookChecksTheSecretStoresAndAnswersAtOnce(t *testing.T) {
	h := newHarness(t, func(c *Config) {
		c.Mode, c.WebhookURL, c.WebhookSecret = ModeWebhook, "https://support.example.com/telegram/support/webhook", "s3cret-Token_1"
	})
	h.fake.WaitUntil(t, "setWebhook", func() bool { return h.fake.Webhook() != nil })
	wh := h.fake.Webhook()
	if wh.Get("url") != h.cfg.WebhookURL || wh.Get("secret_token") != "s3cret-Token_1" || !strings.Contains(wh.Get("allowed_updates"), "callback_query") {
		t.Fatalf("setWebhook params = %v", wh)
	}
	srv := newServer(t, h.a)
	post := func(secret string, body []byte) int {
		req, _ := http.NewRequest(http.MethodPost, srv+h.a.WebhookPath(), strings.NewReader(string(body)))
		req.Header.Set("Content-Type", "application/json")
		if secret != "" {
			req.Header.Set("X-Telegram-Bot-Api-Secret-Token", secret)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	u := telegramtest.Text(1, 42, "Ada", "hello from the webhook")
	u.UpdateID = h.fake.NextUpdateID()
	body, _ := json.Marshal(u)
	for _, bad := range []string{"", "s3cret-Token_2", "s3cret-Token_1x"} {
		if code := post(bad, body); code != http.StatusUnauthorized {
			t.Fatalf("secret %q: status %d, want 401", bad, code)
		}
	}
	if pend, _ := h.st.TelegramPending(context.Background(), "telegram:support", 10); len(pend) != 0 {
		t.Fatalf("a refused webhook call stored %d updates", len(pend))
	}
	if _, err := h.st.ContactByExternal(context.Background(), "telegram:support", "42"); !errors.Is(err, concierge.ErrNotFound) {
		t.Fatalf("a refused webhook call created a contact: %v", err)
	}
	if code := post("s3cret-Token_1", []byte(`{"not json`)); code != http.StatusBadRequest {
		t.Fatalf("malformed update: status %d, want 400", code)
	}
	if code := post("s3cret-Token_1", body); code != http.StatusOK {
		t.Fatalf("good webhook call: status %d", code)
	}
	if code := post("s3cret-Token_1", body); code != http.StatusOK { // Telegram's redelivery
		t.Fatalf("redelivered webhook call: status %d", code)
	}
	h.sent(1)
	u2 := telegramtest.Text(2, 42, "Ada", "say marker")
	u2.UpdateID = h.fake.NextUpdateID()
	body2, _ := json.Marshal(u2)
	post("s3cret-Token_1", body2)
	h.sent(2)
	if got := h.texts(); len(got) != 2 || got[1] != "marker" || len(h.userMessages("42")) != 2 {
		t.Fatalf("sent %q, stored %d; want the redelivered update handled once", got, len(h.userMessages("42")))
	}
	if len(h.fake.Calls("getUpdates")) != 0 {
		t.Fatal("webhook mode must not poll")
	}
}

func TestPhotosDocumentsAndVoiceNotesAreKeptForAgents(t *testing.T) {
	h := newHarness(t, nil)
	h.fake.AddFile("ph-big", "photos/file_1.jpg", []byte("JPEGDATA"))
	h.fake.AddFile("doc-1", "documents/file_2.pdf", []byte("%PDF-1.4"))
	h.fake.AddFile("voice-1", "voice/file_3.oga", []byte("OGGS"))
	h.fake.AddBigFile("huge-1", 30<<20)
	photo := telegramtest.Text(1, 42, "Ada", "")
	photo.Message.Caption = "my screen"
	photo.Message.Photo = []tgbotapi.PhotoSize{{FileID: "ph-small", Width: 90}, {FileID: "ph-big", Width: 1280, FileSize: 8}}
	doc := telegramtest.Text(2, 42, "Ada", "")
	doc.Message.Document = &tgbotapi.Document{FileID: "doc-1", FileName: "invoice.pdf", MimeType: "application/pdf", FileSize: 8}
	voice := telegramtest.Text(3, 42, "Ada", "")
	voice.Message.Voice = &tgbotapi.Voice{FileID: "voice-1", Duration: 2, MimeType: "audio/ogg", FileSize: 4}
	huge := telegramtest.Text(4, 42, "Ada", "")
	huge.Message.Document = &tgbotapi.Document{FileID: "huge-1", FileName: "backup.zip", MimeType: "application/zip"}
	h.fake.Push(photo, doc, voice, huge)
	h.waitFor("four stored messages", func() bool { return countUser(h, "42") == 4 })
	ms := h.userMessages("42")
	want := []struct{ kind, name, data string }{{"image", "photo.jpg", "JPEGDATA"}, {"file", "invoice.pdf", "%PDF-1.4"}, {"voice", "voice.ogg", "OGGS"}}
	for i, w := range want {
		if len(ms[i].Attachments) != 1 {
			t.Fatalf("message %d attachments = %+v", i, ms[i].Attachments)
		}
		att := ms[i].Attachments[0]
		key, ok := strings.CutPrefix(att.URL, "/attachments/")
		if !ok || att.Kind != w.kind || att.Name != w.name || att.Ref == "" {
			t.Fatalf("attachment %d = %+v; want a %s named %s served from /attachments/", i, att, w.kind, w.name)
		}
		f, _, err := h.blobs.Open(key)
		if err != nil {
			t.Fatal(err)
		}
		data, _ := io.ReadAll(f)
		f.Close()
		if string(data) != w.data {
			t.Fatalf("attachment %d holds %q, want %q", i, data, w.data)
		}
	}
	if ms[0].Text != "my screen" {
		t.Fatalf("photo caption stored as %q", ms[0].Text)
	}
	if att := ms[3].Attachments[0]; att.URL != "" || att.Name != "backup.zip" || att.Text == "" {
		t.Fatalf("a file Telegram refuses to hand out = %+v; want it recorded without a URL, with a note", att)
	}
	if got := h.fake.Calls("getFile"); len(got) != 4 || got[0].Params.Get("file_id") != "ph-big" {
		t.Fatalf("getFile calls = %+v; want the largest photo size first", got)
	}
}

func countUser(h *harness, chat string) int {
	c, err := h.st.ContactByExternal(context.Background(), h.a.Name(), chat)
	if err != nil {
		return 0
	}
	conv, err := h.st.LatestConversation(context.Background(), c.ID)
	if err != nil {
		return 0
	}
	ms, _ := h.st.UserMessages(context.Background(), conv.ID, 0, 100)
	return len(ms)
}

func TestEditsAreRecordedAndNotAnsweredAgain(t *testing.T) {
	h := newHarness(t, nil)
	h.fake.Push(telegramtest.Text(1, 42, "Ada", "my order is 1234"))
	h.sent(1)
	edit := telegramtest.Text(1, 42, "Ada", "my order is 1243")
	edit.Message.EditDate = int(time.Now().Unix())
	edit.EditedMessage, edit.Message = edit.Message, nil
	h.fake.Push(edit)
	h.waitFor("the edit stored", func() bool { return countUser(h, "42") == 2 })
	ms := h.userMessages("42")
	if !ms[1].Edited || ms[1].Text != "my order is 1243" || !strings.HasPrefix(ms[1].ExternalID, "42:1:edit:") {
		t.Fatalf("edit stored as %+v", ms[1])
	}
	h.fake.Push(telegramtest.Text(2, 42, "Ada", "say marker"))
	h.sent(2)
	if got := h.texts(); len(got) != 2 {
		t.Fatalf("sent %q; the edit must not be answered", got)
	}
	if n := len(h.bot.messages()); n != 2 {
		t.Fatalf("the bot saw %d messages; want 2 (not the edit)", n)
	}
}

func TestLongButtonPayloadsRoundTripThroughAStoredToken(t *testing.T) {
	h := newHarness(t, nil)
	h.fake.Push(telegramtest.Text(1, 42, "Ada", "choices"))
	q := h.sent(1)
	kb := telegramtest.Keyboard(t, q)
	var buttons []tgbotapi.InlineKeyboardButton
	for _, row := range kb.InlineKeyboard {
		buttons = append(buttons, row...)
	}
	if len(buttons) != 2 {
		t.Fatalf("keyboard = %+v; want two buttons", kb)
	}
	data := *buttons[0].CallbackData
	if len(data) > 64 || !strings.HasPrefix(data, tokenPrefix) || *buttons[1].CallbackData != "clarify:other" {
		t.Fatalf("callback data %q (%d bytes); want a token of at most 64 bytes for the long payload", data, len(data))
	}
	h.fake.Push(telegramtest.Callback("cbq-1", 501, 42, "Ada", "Password reset", data))
	h.sent(2)
	seen := h.bot.messages()
	last := seen[len(seen)-1]
	if last.Payload != longPayload || last.Text != "Password reset" {
		t.Fatalf("the bot got %q / %q; want the original payload and the button's label", last.Payload, last.Text)
	}
	ans := h.fake.WaitCalls(t, "answerCallbackQuery", 1)
	if ans[0].Params.Get("callback_query_id") != "cbq-1" {
		t.Fatalf("answerCallbackQuery = %v", ans[0].Params)
	}
	edit := h.fake.WaitCalls(t, "editMessageReplyMarkup", 1)[0]
	if edit.Params.Get("message_id") != "501" || !strings.Contains(edit.Params.Get("reply_markup"), `"inline_keyboard":[]`) {
		t.Fatalf("keyboard removal = %v", edit.Params)
	}

	// A token nobody stored (an old button, another install) is answered and dropped.
	h.fake.Push(telegramtest.Callback("cbq-2", 502, 42, "Ada", "Old", tokenPrefix+"unknownunknownunknown1"))
	ans = h.fake.WaitCalls(t, "answerCallbackQuery", 2)
	if ans[1].Params.Get("text") == "" {
		t.Fatal("an expired button was answered without telling the customer")
	}
	if n := countUser(h, "42"); n != 2 {
		t.Fatalf("stored %d user messages; want 2 (the expired press stores nothing)", n)
	}
}

func TestLongAnswersAreSplitAndEscaped(t *testing.T) {
	h := newHarness(t, nil)
	var b strings.Builder
	for i := 0; b.Len() < 9000; i++ {
		b.WriteString("Paragraph " + strconv.Itoa(i) + ": if x < 3 && y > 2 then <b>not bold</b> 🙂. ")
		b.WriteString(strings.TrimSpace(strings.Repeat("words ", 40)) + "\n\n")
	}
	long := strings.TrimSpace(b.String())
	h.fake.Push(telegramtest.Text(1, 42, "Ada", "say "+long))
	h.waitFor("the answer sent in parts", func() bool { return len(h.texts()) >= 3 })
	calls := h.fake.Calls("sendMessage")
	var joined []string
	for i, c := range calls {
		text := c.Params.Get("text")
		if strings.Contains(text, "<b>") || strings.Contains(text, "&&") {
			t.Fatalf("part %d not escaped: %.80q", i, text)
		}
		plain := strings.NewReplacer("&lt;", "<", "&gt;", ">", "&amp;", "&").Replace(text)
		if n := utf16Len(plain); n > maxText {
			t.Fatalf("part %d is %d UTF-16 units; Telegram allows %d", i, n, maxText)
		}
		if i < len(calls)-1 && !strings.HasSuffix(plain, "words") {
			t.Fatalf("part %d ends %q; want a cut at a paragraph boundary", i, plain[len(plain)-20:])
		}
		joined = append(joined, plain)
	}
	if got := strings.Join(joined, "\n\n"); got != long {
		t.Fatalf("the parts do not add up to the answer (%d vs %d bytes)", len(got), len(long))
	}
}

func TestSplitPrefersParagraphsAndNeverCutsACharacter(t *testing.T) {
	cases := []struct {
		name  string
		text  string
		limit int
		want  []string
	}{
		{"fits", "short", 10, []string{"short"}},
		{"paragraphs", "aaaa\n\nbbbb\n\ncccc", 11, []string{"aaaa\n\nbbbb", "cccc"}},
		{"lines", "aaaa\nbbbb\ncccc", 10, []string{"aaaa\nbbbb", "cccc"}},
		{"words", "aaaa bbbb cccc", 10, []string{"aaaa bbbb", "cccc"}},
		{"one long word", "abcdefghij", 4, []string{"abcd", "efgh", "ij"}},
		{"emoji count two", "🙂🙂🙂", 4, []string{"🙂🙂", "🙂"}},
	}
	for _, c := range cases {
		got := split(c.text, c.limit)
		if strings.Join(got, "|") != strings.Join(c.want, "|") {
			t.Errorf("%s: split(%q, %d) = %q, want %q", c.name, c.text, c.limit, got, c.want)
		}
		for _, p := range got {
			if !utf8.ValidString(p) {
				t.Errorf("%s: part %q is not valid UTF-8", c.name, p)
			}
		}
	}
}

func TestAgentMessagesCarryTheAgentsNameAndSystemNoticesAreItalic(t *testing.T) {
	parts := render(concierge.Message{Sender: concierge.SenderAgent, SenderName: "Zoë <admin>", Text: "Fixed: a<b & c>d"})
	if len(parts) != 1 || parts[0].html != "<b>Zoë &lt;admin&gt;</b>\nFixed: a&lt;b &amp; c&gt;d" {
		t.Fatalf("agent message = %+v", parts)
	}
	if parts[0].plain != "Zoë <admin>:\nFixed: a<b & c>d" {
		t.Fatalf("agent message plain fallback = %q", parts[0].plain)
	}
	if p := render(concierge.Message{Sender: concierge.SenderSystem, Text: "Conversation closed"}); p[0].html != "<i>Conversation closed</i>" {
		t.Fatalf("system notice = %q", p[0].html)
	}
	if p := render(concierge.Message{Sender: concierge.SenderBot, Text: "  "}); len(p) != 0 {
		t.Fatalf("blank text rendered as %+v", p)
	}
}

func TestRateLimitedSendIsRetriedAfterTheDelayTelegramAsks(t *testing.T) {
	h := newHarness(t, nil)
	h.fake.Fail("sendMessage", 429, "Too Many Requests: retry after 1", 1)
	h.fake.Push(telegramtest.Text(1, 42, "Ada", "say patience"))
	calls := h.fake.WaitCalls(t, "sendMessage", 2)
	if calls[1].Params.Get("text") != "patience" {
		t.Fatalf("retried send = %v", calls[1].Params)
	}
	conv := h.conversation("42")
	msgs, _ := h.st.Messages(context.Background(), conv.ID, 0, 10, false)
	h.waitFor("delivery recorded", func() bool {
		state, _, _ := h.st.OutboxState(context.Background(), msgs[len(msgs)-1].ID)
		return state == "sent"
	})

	// Deliver itself reports the wait to the outbox as a RetryAfter.
	h.fake.Fail("sendMessage", 429, "Too Many Requests: retry after 7", 7)
	contact, _ := h.st.ContactByExternal(context.Background(), "telegram:support", "77")
	contact.ExternalID = "77"
	_, err := h.a.Deliver(context.Background(), channels.Delivery{Contact: contact, Message: concierge.Message{ID: 999, Sender: concierge.SenderBot, Text: "x"}})
	var ra *channels.RetryAfter
	if !errors.As(err, &ra) || ra.Delay != 7*time.Second {
		t.Fatalf("Deliver after 429 = %v; want RetryAfter of 7s", err)
	}
	// and the chat stays quiet meanwhile instead of hitting Telegram again.
	_, err = h.a.Deliver(context.Background(), channels.Delivery{Contact: contact, Message: concierge.Message{ID: 1000, Sender: concierge.SenderBot, Text: "y"}})
	if !errors.As(err, &ra) || ra.Delay < 6*time.Second {
		t.Fatalf("Deliver during the pause = %v; want a RetryAfter without a call", err)
	}
	if n := len(h.fake.Calls("sendMessage")); n != 3 {
		t.Fatalf("sendMessage called %d times; want 3", n)
	}
}

func TestBlockedBotMarksTheContactUnreachableAndTellsAgents(t *testing.T) {
	h := newHarness(t, nil)
	sub := h.bus.Subscribe(concierge.TopicAgents, 256)
	defer sub.Close()
	h.fake.Fail("sendMessage", 403, "Forbidden: bot was blocked by the user", 0)
	h.fake.Push(telegramtest.Text(1, 42, "Ada", "say hi"))
	deadline := time.After(10 * time.Second)
	for {
		var ev concierge.Event
		select {
		case ev = <-sub.C:
		case <-deadline:
			t.Fatal("no failed-delivery event for agents")
		}
		if ev.Kind == concierge.EventDelivery && ev.Delivery.State == "failed" {
			if !strings.Contains(ev.Delivery.Error, "blocked") {
				t.Fatalf("delivery error %q; want Telegram's reason", ev.Delivery.Error)
			}
			break
		}
	}
	c, _ := h.st.ContactByExternal(context.Background(), "telegram:support", "42")
	if !c.Unreachable {
		t.Fatalf("contact = %+v; want unreachable", c)
	}
	if n := len(h.fake.Calls("sendMessage")); n != 1 {
		t.Fatalf("sendMessage called %d times; a blocked chat must not be retried", n)
	}
}

func TestBlockingTheBotIsNotedBeforeAnyMessageBounces(t *testing.T) {
	h := newHarness(t, nil)
	h.fake.Push(telegramtest.Text(1, 42, "Ada", "say hi"))
	h.sent(1)
	member := func(status string) tgbotapi.Update {
		return tgbotapi.Update{MyChatMember: &tgbotapi.ChatMemberUpdated{Chat: *telegramtest.Private(42, "Ada"),
			From: *telegramtest.From(42, "Ada", "en"), Date: int(time.Now().Unix()),
			NewChatMember: tgbotapi.ChatMember{Status: status}}}
	}
	unreachable := func() bool {
		c, _ := h.st.ContactByExternal(context.Background(), "telegram:support", "42")
		return c.Unreachable
	}
	// Updates of a chat are handled in order, so once the marker after the membership
	// change is answered, the change has been handled.
	h.fake.Push(member("kicked"), telegramtest.Text(2, 99, "Other", "say marker"))
	h.sent(2)
	if !unreachable() {
		t.Fatal("blocking the bot did not mark the contact unreachable")
	}
	h.fake.Push(member("member"), telegramtest.Text(3, 99, "Other", "say marker"))
	h.sent(3)
	if unreachable() {
		t.Fatal("unblocking the bot left the contact unreachable")
	}
}

func TestHumanCommandEscalatesAndTypingIsShown(t *testing.T) {
	h := newHarness(t, nil)
	h.fake.Push(telegramtest.Text(1, 42, "Ada", "/human@test_support_bot"))
	h.sent(1)
	h.waitFor("escalated", func() bool { return h.conversation("42").Status == concierge.StatusQueued })
	if m := h.userMessages("42")[0]; m.Action() != concierge.ActionHuman {
		t.Fatalf("/human stored as %+v", m)
	}
	typing := h.fake.WaitCalls(t, "sendChatAction", 1)
	if typing[0].Params.Get("action") != "typing" || typing[0].Params.Get("chat_id") != "42" {
		t.Fatalf("chat action = %v", typing[0].Params)
	}
	// A command for another bot is plain text.
	if _, _, ok := h.a.command("/human@someone_else_bot"); ok {
		t.Fatal("a command addressed to another bot was taken as ours")
	}
}

// TestSupportFlowThroughInlineKeyboards walks a customer from a question to a rating:
// answer → "No" → escalation → agent reply → close → CSAT by button.
func TestSupportFlowThroughInlineKeyboards(t *testing.T) {
	h := newHarness(t, nil)
	ctx := context.Background()
	h.fake.Push(telegramtest.Text(1, 42, "Ada", "Where is my refund?"))
	answer := h.sent(1)
	kb := telegramtest.Keyboard(t, answer)
	no := kb.InlineKeyboard[0][1]
	h.fake.Push(telegramtest.Callback("cb-no", 501, 42, "Ada", no.Text, *no.CallbackData))
	if got := h.sent(2).Params.Get("text"); got != "Connecting you with a person." {
		t.Fatalf("after No: %q", got)
	}
	h.waitFor("queued", func() bool { return h.conversation("42").Status == concierge.StatusQueued })
	conv := h.conversation("42")

	// An agent answers (the panel's API ends in Gateway.Send).
	if _, err := h.gw.Send(ctx, conv.ID, concierge.Outgoing{Sender: concierge.SenderAgent, SenderID: 7, SenderName: "Alice",
		Text: "Your refund was sent on Monday."}); err != nil {
		t.Fatal(err)
	}
	if got := h.sent(3).Params.Get("text"); got != "<b>Alice</b>\nYour refund was sent on Monday." {
		t.Fatalf("agent reply in Telegram = %q", got)
	}

	// The agent closes; the survey goes out as buttons.
	if err := h.st.Write(ctx, func(ctx context.Context, tx *store.Tx) error {
		_, err := tx.ExecContext(ctx, `UPDATE conversations SET status = 'closed', csat_pending = 1 WHERE id = ?`, conv.ID)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	var stars []concierge.QuickReply
	for i := 1; i <= 5; i++ {
		stars = append(stars, concierge.QuickReply{Label: strconv.Itoa(i) + "★", Payload: "csat:" + strconv.Itoa(i)})
	}
	if _, err := h.gw.Send(ctx, conv.ID, concierge.Outgoing{Sender: concierge.SenderSystem, Text: "How did we do?", QuickReplies: stars}); err != nil {
		t.Fatal(err)
	}
	survey := h.sent(4)
	skb := telegramtest.Keyboard(t, survey)
	if skb == nil || len(skb.InlineKeyboard) != 1 || len(skb.InlineKeyboard[0]) != 5 {
		t.Fatalf("survey keyboard = %+v; want one row of five", skb)
	}
	five := skb.InlineKeyboard[0][4]
	h.fake.Push(telegramtest.Callback("cb-5", 504, 42, "Ada", five.Text, *five.CallbackData))
	select {
	case r := <-h.handoff.rated:
		if r != 5 {
			t.Fatalf("rating %d, want 5", r)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the rating never reached the handoff")
	}
	h.fake.WaitCalls(t, "answerCallbackQuery", 2) // every press is answered
}

func TestTheTokenNeverAppearsInErrorsOrLogs(t *testing.T) {
	h := newHarness(t, nil)
	h.fake.Push(telegramtest.Text(1, 42, "Ada", "say hi"))
	h.sent(1)
	h.fake.Close() // Telegram unreachable from now on
	contact, _ := h.st.ContactByExternal(context.Background(), "telegram:support", "42")
	_, err := h.a.Deliver(context.Background(), channels.Delivery{Contact: contact, Message: concierge.Message{ID: 5, Sender: concierge.SenderBot, Text: "x"}})
	if err == nil {
		t.Fatal("delivery to an unreachable API succeeded")
	}
	secretPart := strings.SplitN(telegramtest.Token, ":", 2)[1]
	if strings.Contains(err.Error(), secretPart) {
		t.Fatalf("error leaks the token: %v", err)
	}
	if _, raw := h.a.bot.GetMe(); raw == nil || !strings.Contains(raw.Error(), secretPart) {
		t.Fatalf("the library's own error %v does not show the token; this test would prove nothing", raw)
	}
	if _, err := h.a.pollOnce(context.Background(), 0); err == nil || strings.Contains(err.Error(), secretPart) {
		t.Fatalf("poll error = %v; want an error without the token", err)
	}
	if _, err := h.a.fetch(context.Background(), "file", "f", "n", "", 1); err == nil || strings.Contains(err.Error(), secretPart) {
		t.Fatalf("download error = %v; want an error without the token", err)
	}
	h.stop() // lets the poll loop log its failures first
	if strings.Contains(h.logs.String(), secretPart) {
		t.Fatal("the logs contain the token")
	}
	// A refused token is reported at start-up, without the token.
	fake := telegramtest.New(t)
	_, err = New(context.Background(), Config{Name: "x", Token: "999:wrong-token", APIURL: fake.URL}, nil, nil, nil, testLog(t))
	if err == nil || strings.Contains(err.Error(), "wrong-token") || !strings.Contains(err.Error(), "refused") {
		t.Fatalf("New with a refused token = %v", err)
	}
}

func TestPacerAllowsAShortBurstThenOneMessageASecondPerChat(t *testing.T) {
	now := time.Unix(1000, 0)
	p := newPacer(func() time.Time { return now })
	var at []time.Duration
	for i := 0; i < 5; i++ {
		t0, ok := p.reserve(1)
		if !ok {
			t.Fatalf("reservation %d refused", i)
		}
		at = append(at, t0.Sub(now))
	}
	// Three at once (each 1/30 s apart for the bot-wide limit), then one a second.
	if at[2] > 100*time.Millisecond || at[3] < time.Second-100*time.Millisecond || at[4]-at[3] != time.Second {
		t.Fatalf("slots %v; want a burst of 3 then 1/s", at)
	}
	// Another chat is not held up by the first one's queue, only by the 30/s limit.
	if t0, _ := p.reserve(2); t0.Sub(now) > time.Second/5 {
		t.Fatalf("another chat waits %v", t0.Sub(now))
	}
	// Across chats: 30 a second.
	q := newPacer(func() time.Time { return now })
	var last time.Time
	for c := int64(0); c < 60; c++ {
		last, _ = q.reserve(c)
	}
	if d := last.Sub(now); d < 1900*time.Millisecond || d > 2*time.Second {
		t.Fatalf("60 chats took %v; want about 2s at 30/s", d)
	}
	// A queue longer than maxWait is refused, not booked.
	p.pause(1, time.Minute)
	if _, ok := p.reserve(1); ok {
		t.Fatal("a chat paused for a minute was given a slot")
	}
}

func TestOutgoingFilesAreUploaded(t *testing.T) {
	h := newHarness(t, nil)
	h.fake.Push(telegramtest.Text(1, 42, "Ada", "say hi"))
	h.sent(1)
	meta, err := h.blobs.Put(context.Background(), strings.NewReader("PNGDATA"), "screenshot.png", "image/png")
	if err != nil {
		t.Fatal(err)
	}
	conv := h.conversation("42")
	if _, err := h.gw.Send(context.Background(), conv.ID, concierge.Outgoing{Sender: concierge.SenderAgent, SenderName: "Alice",
		Attachments: []concierge.Attachment{{Kind: "image", URL: "/attachments/" + meta.Key, Name: "screenshot.png"}}}); err != nil {
		t.Fatal(err)
	}
	up := h.fake.WaitCalls(t, "sendPhoto", 1)[0]
	if string(up.Files["photo"]) != "PNGDATA" || up.Params.Get("caption") != "<b>Alice</b>" {
		t.Fatalf("upload = %v files %v", up.Params, up.Files)
	}
}

func TestAnInterruptedMultiPartAnswerResumesWithoutRepeatingParts(t *testing.T) {
	h := newHarness(t, nil)
	para := strings.TrimSpace(strings.Repeat("lorem ipsum ", 300)) // ~3,600 characters
	long := para + "\n\n" + strings.Replace(para, "lorem", "dolor", 1) + "\n\n" + strings.Replace(para, "lorem", "amet", 1)
	h.fake.FailCall("sendMessage", 2, 429, "Too Many Requests: retry after 1", 1)
	h.fake.Push(telegramtest.Text(1, 42, "Ada", "say "+long))
	calls := h.fake.WaitCalls(t, "sendMessage", 4) // part 1, part 2 refused, part 2, part 3
	h.waitDelivered("42")
	var got []string
	for _, c := range calls {
		got = append(got, c.Params.Get("text"))
	}
	want := split(long, maxText)
	if len(want) != 3 || got[0] != want[0] || got[1] != want[1] || got[2] != want[1] || got[3] != want[2] {
		t.Fatalf("sent %d texts; want part 1 once, part 2 twice (refused, then sent), part 3 once", len(got))
	}
	if n := len(h.fake.Calls("sendMessage")); n != 4 {
		t.Fatalf("sendMessage called %d times, want 4", n)
	}
	conv := h.conversation("42")
	ms, _ := h.st.Messages(context.Background(), conv.ID, 0, 10, false)
	_, lastErr, _ := h.st.OutboxState(context.Background(), ms[len(ms)-1].ID)
	if lastErr != "" {
		t.Fatalf("outbox last error %q after success", lastErr)
	}
}
