package telegram

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"path"
	"strings"

	tgbotapi "github.com/go-telegram-bot-api/telegram-bot-api/v5"

	"github.com/conciergehq/concierge"
	"github.com/conciergehq/concierge/internal/blob"
)

// attachments collects what a message carries besides text. Files are downloaded into
// our file store so agents open them through our server.
func (a *Adapter) attachments(ctx context.Context, m *tgbotapi.Message, last bool) ([]concierge.Attachment, error) {
	type want struct {
		kind, fileID, name, mime string
		size                     int
	}
	var files []want
	if n := len(m.Photo); n > 0 {
		p := m.Photo[n-1] // sizes come smallest first
		files = append(files, want{"image", p.FileID, "photo.jpg", "image/jpeg", p.FileSize})
	}
	if d := m.Document; d != nil {
		kind := "file"
		if strings.HasPrefix(d.MimeType, "image/") {
			kind = "image"
		}
		files = append(files, want{kind, d.FileID, d.FileName, d.MimeType, d.FileSize})
	}
	if v := m.Voice; v != nil {
		files = append(files, want{"voice", v.FileID, "voice.ogg", orDefault(v.MimeType, "audio/ogg"), v.FileSize})
	}
	if au := m.Audio; au != nil {
		files = append(files, want{"voice", au.FileID, orDefault(au.FileName, "audio"), au.MimeType, au.FileSize})
	}
	if v := m.Video; v != nil {
		files = append(files, want{"video", v.FileID, orDefault(v.FileName, "video.mp4"), orDefault(v.MimeType, "video/mp4"), v.FileSize})
	}
	if v := m.VideoNote; v != nil {
		files = append(files, want{"video", v.FileID, "video-note.mp4", "video/mp4", v.FileSize})
	}
	if an := m.Animation; an != nil && m.Document == nil {
		files = append(files, want{"video", an.FileID, orDefault(an.FileName, "animation.mp4"), an.MimeType, an.FileSize})
	}
	var out []concierge.Attachment
	for _, f := range files {
		att, err := a.fetch(ctx, f.kind, f.fileID, f.name, f.mime, int64(f.size))
		if err != nil {
			if !last {
				return nil, err
			}
			att.Text = "could not be downloaded from Telegram"
		}
		out = append(out, att)
	}
	if l := m.Location; l != nil {
		pos := fmt.Sprintf("%.6f,%.6f", l.Latitude, l.Longitude)
		att := concierge.Attachment{Kind: "location", Text: pos,
			URL: "https://www.openstreetmap.org/?mlat=" + fmt.Sprintf("%.6f", l.Latitude) + "&mlon=" + fmt.Sprintf("%.6f", l.Longitude)}
		if v := m.Venue; v != nil {
			att.Name, att.Text = v.Title, strings.TrimSpace(v.Address+" ("+pos+")")
		}
		out = append(out, att)
	}
	return out, nil
}

func orDefault(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

// fetch downloads one file (getFile, then the file endpoint of the configured API base;
// the library's File.Link always points at api.telegram.org). Files Telegram will not
// hand out (over 20 MB, expired) are recorded without a URL; transient failures return
// an error so the update is retried.
func (a *Adapter) fetch(ctx context.Context, kind, fileID, name, mimeType string, size int64) (concierge.Attachment, error) {
	att := concierge.Attachment{Kind: kind, Name: name, MIME: mimeType, Size: size, Ref: fileID}
	if a.blobs == nil {
		return att, nil
	}
	if size > a.cfg.MaxFileSize {
		att.Text = "too large to download through the Bot API"
		return att, nil
	}
	resp, err := a.makeRequest(ctx, "getFile", tgbotapi.Params{"file_id": fileID})
	if code := apiCode(err); code >= 400 && code < 500 && code != http.StatusTooManyRequests {
		att.Text = "not available from Telegram: " + err.Error()
		return att, nil
	}
	if err != nil {
		return att, fmt.Errorf("telegram: getFile: %w", err)
	}
	var f tgbotapi.File
	if err := json.Unmarshal(resp.Result, &f); err != nil || f.FilePath == "" {
		att.Text = "Telegram gave no download path"
		return att, nil
	}
	if att.Name == "" {
		att.Name = path.Base(f.FilePath)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, a.fileBase+strings.TrimLeft(f.FilePath, "/"), nil)
	if err != nil {
		return att, fmt.Errorf("telegram: download: %w", a.scrub(err))
	}
	res, err := a.files.Do(req)
	if err != nil {
		return att, fmt.Errorf("telegram: download: %w", a.scrub(err))
	}
	defer res.Body.Close()
	switch {
	case res.StatusCode == http.StatusNotFound:
		att.Text = "no longer available from Telegram"
		return att, nil
	case res.StatusCode != http.StatusOK:
		return att, fmt.Errorf("telegram: download: HTTP %d", res.StatusCode)
	}
	meta, err := a.blobs.Put(ctx, res.Body, att.Name, mimeType)
	if errors.Is(err, blob.ErrTooLarge) {
		att.Text = "too large to keep"
		return att, nil
	}
	if err != nil {
		return att, fmt.Errorf("telegram: keep download: %w", a.scrub(err))
	}
	att.URL, att.Name, att.MIME, att.Size = blob.URL(meta.Key), meta.Name, meta.MIME, meta.Size
	return att, nil
}
