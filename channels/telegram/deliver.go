package telegram

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"

	tgbotapi "github.com/go-telegram-bot-api/telegram-bot-api/v5"

	"github.com/conciergehq/concierge"
	"github.com/conciergehq/concierge/channels"
)

// outgoing is one Telegram message of a delivery: a text part or a file.
type outgoing struct {
	text *part
	file *concierge.Attachment
}

// Deliver sends one stored message: its text (split if long) with the quick replies as
// an inline keyboard under the last part, then its files. Each Telegram message waits for
// its slot under the rate limits. A delivery that fails midway resumes after the parts
// already sent when the outbox retries it.
func (a *Adapter) Deliver(ctx context.Context, d channels.Delivery) (string, error) {
	chat, err := chatID(d.Contact)
	if err != nil {
		return "", err
	}
	a.stopTyping(chat) // the message replaces the indicator
	var items []outgoing
	for _, p := range render(d.Message) {
		items = append(items, outgoing{text: &p})
	}
	for _, att := range d.Message.Attachments {
		items = append(items, outgoing{file: &att})
	}
	markup, err := a.keyboard(ctx, d.Message.QuickReplies)
	if err != nil {
		return "", err
	}
	if markup != nil && (len(items) == 0 || items[len(items)-1].text == nil) {
		// Buttons need a text message to hang from.
		p := part{html: "…", plain: "…"}
		items = append(items, outgoing{text: &p})
	}
	if len(items) == 0 {
		return "", nil
	}
	a.mu.Lock()
	ids := a.progress[d.Message.ID]
	if d.Attempt <= 1 {
		ids = nil // a first attempt: anything remembered is from another database
	}
	a.mu.Unlock()
	for i := len(ids); i < len(items); i++ {
		wait, ok, err := a.pacer.wait(ctx, chat)
		if err != nil {
			return "", err
		}
		if !ok {
			a.keepProgress(d.Message.ID, ids)
			return "", &channels.RetryAfter{Delay: wait, Err: errors.New("telegram: this chat's send queue is full")}
		}
		var kb *tgbotapi.InlineKeyboardMarkup
		if i == len(items)-1 {
			kb = markup
		}
		id, err := a.sendOne(ctx, chat, d.Message, items[i], i == 0, kb)
		if err != nil {
			a.keepProgress(d.Message.ID, ids)
			derr := deliveryError(err)
			var ra *channels.RetryAfter
			if errors.As(derr, &ra) {
				a.pacer.pause(chat, ra.Delay)
			}
			return "", derr
		}
		ids = append(ids, id)
	}
	a.mu.Lock()
	delete(a.progress, d.Message.ID)
	a.mu.Unlock()
	return strings.Join(ids, ","), nil
}

func (a *Adapter) keepProgress(msgID int64, ids []string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if len(ids) > 0 {
		a.progress[msgID] = ids
	}
}

func (a *Adapter) sendOne(ctx context.Context, chat int64, m concierge.Message, it outgoing, first bool, kb *tgbotapi.InlineKeyboardMarkup) (string, error) {
	if it.text != nil {
		cfg := tgbotapi.NewMessage(chat, it.text.html)
		cfg.ParseMode = tgbotapi.ModeHTML
		if kb != nil {
			cfg.ReplyMarkup = kb
		}
		sent, err := a.send(ctx, cfg)
		if isParseError(err) {
			// Our escaping should make this impossible; if Telegram still refuses the
			// markup, the words matter more than the formatting.
			a.log.Warn().Err(err).Int64("message", m.ID).Msg("Telegram refused the HTML; sending plain text")
			cfg.Text, cfg.ParseMode = it.text.plain, ""
			sent, err = a.send(ctx, cfg)
		}
		if err != nil {
			return "", err
		}
		return strconv.Itoa(sent.MessageID), nil
	}
	return a.sendFile(ctx, chat, m, *it.file, first)
}

// sendFile uploads a file kept in our store (an agent's attachment); files elsewhere are
// sent as links.
func (a *Adapter) sendFile(ctx context.Context, chat int64, m concierge.Message, att concierge.Attachment, first bool) (string, error) {
	caption := ""
	if first && m.Sender == concierge.SenderAgent && m.SenderName != "" {
		caption = "<b>" + escapeHTML(m.SenderName) + "</b>"
	}
	key, ours := strings.CutPrefix(att.URL, "/attachments/")
	if !ours || a.blobs == nil {
		name := att.Name
		if name == "" {
			name = att.URL
		}
		text := escapeHTML(name)
		if strings.HasPrefix(att.URL, "https://") || strings.HasPrefix(att.URL, "http://") {
			text = `<a href="` + escapeHTML(att.URL) + `">` + escapeHTML(name) + `</a>`
		}
		if caption != "" {
			text = caption + "\n" + text
		}
		cfg := tgbotapi.NewMessage(chat, text)
		cfg.ParseMode = tgbotapi.ModeHTML
		sent, err := a.send(ctx, cfg)
		if err != nil {
			return "", err
		}
		return strconv.Itoa(sent.MessageID), nil
	}
	f, meta, err := a.blobs.Open(key)
	if err != nil {
		return "", fmt.Errorf("telegram: attachment %s: %w", att.Name, err)
	}
	defer f.Close()
	file := tgbotapi.FileReader{Name: meta.Name, Reader: f}
	var c tgbotapi.Chattable
	if strings.HasPrefix(meta.MIME, "image/") && meta.MIME != "image/svg+xml" {
		p := tgbotapi.NewPhoto(chat, file)
		p.Caption, p.ParseMode = caption, tgbotapi.ModeHTML
		c = p
	} else {
		doc := tgbotapi.NewDocument(chat, file)
		doc.Caption, doc.ParseMode = caption, tgbotapi.ModeHTML
		c = doc
	}
	sent, err := a.send(ctx, c)
	if err != nil {
		return "", err
	}
	return strconv.Itoa(sent.MessageID), nil
}
