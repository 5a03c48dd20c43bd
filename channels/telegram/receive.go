package telegram

import (
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	tgbotapi "github.com/go-telegram-bot-api/telegram-bot-api/v5"

	"github.com/conciergehq/concierge"
	"github.com/conciergehq/concierge/internal/store"
)

func jsonUnmarshal(b []byte, v any) error { return json.Unmarshal(b, v) }

// rawUpdate is what the inbox needs to know of an update before processing it.
type rawUpdate struct {
	UpdateID int64 `json:"update_id"`
	Message  *struct {
		Chat struct {
			ID int64 `json:"id"`
		} `json:"chat"`
	} `json:"message"`
	EditedMessage *struct {
		Chat struct {
			ID int64 `json:"id"`
		} `json:"chat"`
	} `json:"edited_message"`
	CallbackQuery *struct {
		Message *struct {
			Chat struct {
				ID int64 `json:"id"`
			} `json:"chat"`
		} `json:"message"`
	} `json:"callback_query"`
	MyChatMember *struct {
		Chat struct {
			ID int64 `json:"id"`
		} `json:"chat"`
	} `json:"my_chat_member"`
}

// inboxRow reads an update's id and chat, keeping its body exactly as Telegram sent it
// (the library's types would drop fields it does not know).
func inboxRow(body []byte) (store.TelegramUpdate, error) {
	var u rawUpdate
	if err := json.Unmarshal(body, &u); err != nil {
		return store.TelegramUpdate{}, fmt.Errorf("telegram: malformed update: %w", err)
	}
	if u.UpdateID <= 0 {
		return store.TelegramUpdate{}, errors.New("telegram: update without an update_id")
	}
	row := store.TelegramUpdate{UpdateID: u.UpdateID, Body: body}
	switch {
	case u.Message != nil:
		row.ChatID = u.Message.Chat.ID
	case u.EditedMessage != nil:
		row.ChatID = u.EditedMessage.Chat.ID
	case u.CallbackQuery != nil && u.CallbackQuery.Message != nil:
		row.ChatID = u.CallbackQuery.Message.Chat.ID
	case u.MyChatMember != nil:
		row.ChatID = u.MyChatMember.Chat.ID
	}
	return row, nil
}

// poll runs the long-poll loop: fetch updates after the stored offset, store them and
// the next offset in one transaction, repeat. Telegram drops updates only when a later
// call passes an offset above them, which happens after they are stored.
func (a *Adapter) poll(ctx context.Context) {
	// getUpdates answers 409 while a webhook is set (e.g. after switching modes).
	for attempt := 0; ; attempt++ {
		_, err := a.makeRequest(ctx, "deleteWebhook", nil)
		if err == nil {
			break
		}
		if ctx.Err() != nil {
			return
		}
		a.log.Warn().Err(err).Msg("deleteWebhook failed; retrying")
		if !sleep(ctx, backoff(attempt)) {
			return
		}
	}
	var offset int64
	if v, err := a.store.ChannelState(ctx, a.name, store.TelegramOffsetKey); err == nil {
		offset, _ = strconv.ParseInt(v, 10, 64)
	} else if !errors.Is(err, concierge.ErrNotFound) {
		a.log.Warn().Err(err).Msg("cannot read the poll offset; Telegram resends what it still holds and duplicates are dropped")
	}
	a.log.Info().Int64("offset", offset).Msg("polling for updates")
	failures := 0
	for ctx.Err() == nil {
		next, err := a.pollOnce(ctx, offset)
		if err == nil {
			offset, failures = next, 0
			continue
		}
		if ctx.Err() != nil {
			return
		}
		wait := backoff(failures)
		var apiErr *tgbotapi.Error
		switch {
		case errors.As(err, &apiErr) && apiErr.RetryAfter > 0:
			wait = time.Duration(apiErr.RetryAfter) * time.Second
		case apiCode(err) == http.StatusConflict:
			a.log.Warn().Err(err).Msg("another poller or a webhook is using this bot; is a second instance running with the same token?")
		case apiCode(err) == http.StatusUnauthorized:
			a.log.Error().Err(err).Msg("Telegram refuses the token; was it revoked?")
			wait = max(wait, time.Minute)
		default:
			a.log.Warn().Err(err).Dur("retry_in", wait).Msg("getUpdates failed")
		}
		failures++
		if !sleep(ctx, wait) {
			return
		}
	}
}

// pollOnce fetches one batch and stores it; it returns the offset to ask for next.
func (a *Adapter) pollOnce(ctx context.Context, offset int64) (int64, error) {
	p := tgbotapi.Params{"timeout": strconv.Itoa(int(a.cfg.PollTimeout / time.Second)), "limit": "100"}
	if offset > 0 {
		p["offset"] = strconv.FormatInt(offset, 10)
	}
	if err := p.AddInterface("allowed_updates", allowedUpdates); err != nil {
		return offset, err
	}
	resp, err := a.makeRequest(ctx, "getUpdates", p)
	if err != nil {
		return offset, err
	}
	var bodies []json.RawMessage
	if err := json.Unmarshal(resp.Result, &bodies); err != nil {
		return offset, fmt.Errorf("telegram: getUpdates result: %w", err)
	}
	if len(bodies) == 0 {
		return offset, nil
	}
	rows := make([]store.TelegramUpdate, 0, len(bodies))
	next := offset
	for _, b := range bodies {
		row, err := inboxRow(b)
		if err != nil {
			a.log.Error().Err(err).Msg("skipping an update Telegram sent that cannot be read")
			continue
		}
		rows = append(rows, row)
		next = max(next, row.UpdateID+1)
	}
	if _, err := a.store.TelegramEnqueue(ctx, a.name, rows, next); err != nil {
		// Not stored, so not confirmed: the next getUpdates returns the same updates.
		return offset, err
	}
	a.wakeWorker()
	return next, nil
}

// WebhookHandler receives Telegram's webhook posts: it checks the secret header, stores
// the update and answers 200 at once; the worker processes it afterwards.
func (a *Adapter) WebhookHandler() http.Handler {
	secret := []byte(a.cfg.WebhookSecret)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got := []byte(r.Header.Get("X-Telegram-Bot-Api-Secret-Token"))
		if len(secret) == 0 || subtle.ConstantTimeCompare(got, secret) != 1 {
			a.log.Warn().Str("remote", r.RemoteAddr).Msg("webhook call with a wrong secret refused")
			http.Error(w, "unauthorized", http.StatusUnauthorized)
			return
		}
		body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, 1<<20))
		if err != nil {
			http.Error(w, "body too large or unreadable", http.StatusRequestEntityTooLarge)
			return
		}
		row, err := inboxRow(body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		if _, err := a.store.TelegramEnqueue(r.Context(), a.name, []store.TelegramUpdate{row}, 0); err != nil {
			a.log.Error().Err(err).Int64("update", row.UpdateID).Msg("cannot store webhook update; Telegram will resend it")
			http.Error(w, "try again", http.StatusServiceUnavailable)
			return
		}
		a.wakeWorker()
		w.WriteHeader(http.StatusOK)
	})
}

func (a *Adapter) wakeWorker() {
	select {
	case a.wake <- struct{}{}:
	default:
	}
}

// maxAttempts before an update that keeps failing is given up.
const maxAttempts = 8

// work processes stored updates until ctx ends: each chat's in update order, chats in
// parallel. A chat whose oldest update waits for a retry waits as a whole.
func (a *Adapter) work(ctx context.Context) {
	t := time.NewTimer(0)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-a.wake:
		case <-t.C:
		}
		for {
			progressed, nextDue := a.workOnce(ctx)
			if ctx.Err() != nil {
				return
			}
			if progressed {
				continue
			}
			if !t.Stop() {
				select {
				case <-t.C:
				default:
				}
			}
			t.Reset(time.Until(nextDue))
			break
		}
	}
}

func (a *Adapter) workOnce(ctx context.Context) (progressed bool, nextDue time.Time) {
	now := a.now()
	nextDue = now.Add(time.Minute)
	pending, err := a.store.TelegramPending(ctx, a.name, 200)
	if err != nil {
		if ctx.Err() == nil {
			a.log.Warn().Err(err).Msg("cannot read stored updates; retrying")
		}
		return false, now.Add(5 * time.Second)
	}
	var order []int64
	byChat := map[int64][]store.TelegramUpdate{}
	for _, u := range pending {
		if _, seen := byChat[u.ChatID]; !seen {
			order = append(order, u.ChatID)
		}
		byChat[u.ChatID] = append(byChat[u.ChatID], u)
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	sem := make(chan struct{}, 8)
	for _, chat := range order {
		ups := byChat[chat]
		if ups[0].NextAttempt.After(now) {
			if ups[0].NextAttempt.Before(nextDue) {
				nextDue = ups[0].NextAttempt
			}
			continue
		}
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer func() { <-sem; wg.Done() }()
			for _, u := range ups {
				if u.NextAttempt.After(now) || ctx.Err() != nil {
					return
				}
				done := a.process(ctx, u)
				mu.Lock()
				progressed = progressed || done
				mu.Unlock()
				if !done {
					return // keep the chat in order: later updates wait for this one
				}
			}
		}()
	}
	wg.Wait()
	return progressed, nextDue
}

// process handles one stored update and records the outcome; it reports false when the
// update is to be retried later.
func (a *Adapter) process(ctx context.Context, u store.TelegramUpdate) bool {
	log := a.log.With().Int64("update", u.UpdateID).Logger()
	var up tgbotapi.Update
	if err := json.Unmarshal(u.Body, &up); err != nil {
		log.Error().Err(err).Msg("stored update cannot be decoded; dropping it")
		a.record(ctx, u, fmt.Sprintf("undecodable: %v", err))
		return true
	}
	last := u.Attempts+1 >= maxAttempts
	err := a.handle(ctx, up, last)
	var drop *dropped
	switch {
	case err == nil:
		a.record(ctx, u, "")
		return true
	case ctx.Err() != nil:
		return false // shutting down; processed again at the next start
	case errors.As(err, &drop) || errors.Is(err, concierge.ErrInvalid):
		log.Warn().Err(err).Msg("update refused")
		a.record(ctx, u, err.Error())
		return true
	case last:
		log.Error().Err(err).Int("attempts", u.Attempts+1).Msg("giving up on an update that keeps failing")
		a.record(ctx, u, "gave up: "+err.Error())
		return true
	}
	delay := backoff(u.Attempts + 1)
	log.Warn().Err(err).Dur("retry_in", delay).Msg("processing an update failed; will retry")
	if rerr := a.store.TelegramRetry(ctx, a.name, u.UpdateID, err.Error(), a.now().Add(delay)); rerr != nil && ctx.Err() == nil {
		log.Error().Err(rerr).Msg("cannot record the retry")
	}
	return false
}

func (a *Adapter) record(ctx context.Context, u store.TelegramUpdate, cause string) {
	if err := a.store.TelegramDone(ctx, a.name, u.UpdateID, cause); err != nil && ctx.Err() == nil {
		a.log.Error().Err(err).Int64("update", u.UpdateID).Msg("cannot mark update processed; it may be processed again (duplicates are dropped)")
	}
}

// dropped is an update we will never handle (kept in the inbox as failed, with why).
type dropped struct{ reason string }

func (d *dropped) Error() string { return d.reason }

// handle turns one update into what it means for the gateway. last is set on the final
// attempt: attachments that still cannot be downloaded are then recorded without a file.
func (a *Adapter) handle(ctx context.Context, up tgbotapi.Update, last bool) error {
	switch {
	case up.Message != nil:
		return a.handleMessage(ctx, up.Message, false, last)
	case up.EditedMessage != nil:
		return a.handleMessage(ctx, up.EditedMessage, true, last)
	case up.CallbackQuery != nil:
		return a.handleCallback(ctx, up.CallbackQuery)
	case up.MyChatMember != nil:
		return a.handleMembership(ctx, up.MyChatMember)
	}
	return nil // kinds we did not ask for (allowed_updates) are ignored
}

func (a *Adapter) handleMessage(ctx context.Context, m *tgbotapi.Message, edited, last bool) error {
	if m.Chat == nil || m.Chat.Type != "private" {
		return nil // support happens in private chats; groups and channels are ignored
	}
	in, err := a.inbound(ctx, m, edited, last)
	if err != nil {
		return err
	}
	if in.Text == "" && len(in.Attachments) == 0 && in.Action == concierge.ActionNone {
		return nil // service messages (pins, auto-delete timers…) carry nothing for support
	}
	_, err = a.gw.Receive(ctx, in)
	return err
}

// inbound builds the gateway's view of a Telegram message.
func (a *Adapter) inbound(ctx context.Context, m *tgbotapi.Message, edited, last bool) (concierge.Inbound, error) {
	chat := strconv.FormatInt(m.Chat.ID, 10)
	in := concierge.Inbound{
		Channel:    a.name,
		ContactID:  chat,
		MessageID:  chat + ":" + strconv.Itoa(m.MessageID),
		Profile:    profile(m.From, m.Chat),
		Text:       m.Text,
		Edited:     edited,
		ReceivedAt: time.Unix(int64(m.Date), 0),
	}
	if edited {
		// An edit keeps the message id; each version is its own record.
		in.MessageID += ":edit:" + strconv.Itoa(m.EditDate)
		if m.EditDate > 0 {
			in.ReceivedAt = time.Unix(int64(m.EditDate), 0)
		}
	}
	if in.Text == "" {
		in.Text = m.Caption
	}
	if cmd, arg, ok := a.command(in.Text); ok && !edited {
		switch cmd {
		case "start":
			in.Action = concierge.ActionStart
			if arg != "" {
				// Deep link t.me/<bot>?start=<payload>: where the customer came from.
				in.Meta = map[string]string{"start": arg}
			}
		case "human", "agent", "operator":
			in.Action = concierge.ActionHuman
		}
	}
	atts, err := a.attachments(ctx, m, last)
	if err != nil {
		return in, err
	}
	in.Attachments = atts
	if in.Text == "" {
		in.Text = describe(m)
	}
	return in, nil
}

// command parses "/cmd[@bot] [args]". A command addressed to another bot is plain text.
func (a *Adapter) command(text string) (cmd, arg string, ok bool) {
	if !strings.HasPrefix(text, "/") {
		return "", "", false
	}
	head, arg, _ := strings.Cut(text, " ")
	head, bot, addressed := strings.Cut(head[1:], "@")
	if addressed && !strings.EqualFold(bot, a.Username()) {
		return "", "", false
	}
	if head == "" {
		return "", "", false
	}
	for _, r := range head {
		if !(r == '_' || r >= '0' && r <= '9' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z') {
			return "", "", false
		}
	}
	return strings.ToLower(head), strings.TrimSpace(arg), true
}

// profile is what Telegram tells us about the customer: unverified, and only filling
// gaps in what a verified source said.
func profile(u *tgbotapi.User, c *tgbotapi.Chat) concierge.Profile {
	var p concierge.Profile
	first, lastName, username, lang := "", "", "", ""
	if u != nil {
		first, lastName, username, lang = u.FirstName, u.LastName, u.UserName, u.LanguageCode
	} else if c != nil {
		first, lastName, username = c.FirstName, c.LastName, c.UserName
	}
	p.Name = strings.TrimSpace(first + " " + lastName)
	attrs := map[string]string{}
	if lang != "" {
		attrs["language"] = lang
	}
	if username != "" {
		attrs["telegram_username"] = username
	}
	if len(attrs) > 0 {
		p.Attributes = attrs
	}
	return p
}

// describe names content we keep no file for, so agents see that something was sent.
func describe(m *tgbotapi.Message) string {
	switch {
	case m.Sticker != nil:
		if m.Sticker.Emoji != "" {
			return m.Sticker.Emoji
		}
		return "[sticker]"
	case m.Contact != nil:
		return strings.TrimSpace(fmt.Sprintf("[contact] %s %s %s", m.Contact.FirstName, m.Contact.LastName, m.Contact.PhoneNumber))
	case m.Dice != nil:
		return m.Dice.Emoji
	case m.Poll != nil:
		return "[poll] " + m.Poll.Question
	}
	return ""
}

func (a *Adapter) handleCallback(ctx context.Context, q *tgbotapi.CallbackQuery) error {
	// Always answer, or the customer's button keeps spinning. An answer after a restart
	// may be "too old"; that is harmless.
	answer := func(text string) {
		if _, err := a.request(ctx, tgbotapi.NewCallback(q.ID, text)); err != nil {
			a.log.Debug().Err(err).Msg("answerCallbackQuery failed")
		}
	}
	if q.Message == nil || q.Message.Chat == nil || q.Message.Chat.Type != "private" {
		answer("")
		return nil
	}
	payload, known, err := a.payloadOf(ctx, q.Data)
	if err != nil {
		return err
	}
	if !known {
		answer("This choice is no longer available.")
		return &dropped{reason: "callback data " + q.Data + " has no stored payload"}
	}
	label := payload
	if kb := q.Message.ReplyMarkup; kb != nil {
		for _, row := range kb.InlineKeyboard {
			for _, b := range row {
				if b.CallbackData != nil && *b.CallbackData == q.Data {
					label = b.Text
				}
			}
		}
	}
	chat := strconv.FormatInt(q.Message.Chat.ID, 10)
	rec, err := a.gw.Receive(ctx, concierge.Inbound{Channel: a.name, ContactID: chat, MessageID: "cb:" + q.ID,
		Profile: profile(q.From, q.Message.Chat), Text: label, Payload: payload, ReceivedAt: a.now()})
	if err != nil {
		return err
	}
	answer("")
	if !rec.Duplicate {
		// The choice is made: take the buttons away so it is not made twice.
		empty := tgbotapi.NewEditMessageReplyMarkup(q.Message.Chat.ID, q.Message.MessageID,
			tgbotapi.InlineKeyboardMarkup{InlineKeyboard: [][]tgbotapi.InlineKeyboardButton{}})
		if _, err := a.request(ctx, empty); err != nil {
			a.log.Debug().Err(err).Msg("cannot remove the answered keyboard")
		}
	}
	return nil
}

// handleMembership notes a customer blocking (or unblocking) the bot, so agents see the
// contact is unreachable before a message bounces.
func (a *Adapter) handleMembership(ctx context.Context, mc *tgbotapi.ChatMemberUpdated) error {
	if mc.Chat.Type != "private" {
		return nil
	}
	var reason string
	switch mc.NewChatMember.Status {
	case "kicked":
		reason = "blocked the bot in Telegram"
	case "member":
	default:
		return nil
	}
	c, err := a.store.ContactByExternal(ctx, a.name, strconv.FormatInt(mc.Chat.ID, 10))
	if errors.Is(err, concierge.ErrNotFound) {
		return nil // never wrote to us
	}
	if err != nil {
		return err
	}
	if c.Unreachable == (reason != "") {
		return nil
	}
	return a.store.SetUnreachable(ctx, c.ID, reason)
}
