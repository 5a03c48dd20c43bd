// Package telegramtest is a fake Telegram Bot API for tests: an httptest server that
// speaks the real wire protocol (form-encoded POSTs to /bot<token>/<method>, JSON
// answers with ok/result or ok/error_code/description/parameters, files under
// /file/bot<token>/<path>), so the adapter is exercised through the real library.
//
// It keeps a queue of updates for getUpdates (long polling, offsets confirming), records
// every call, and can be told to fail the next call of a method (429, 403…).
package telegramtest

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	tgbotapi "github.com/go-telegram-bot-api/telegram-bot-api/v5"
)

// Token is the bot token the fake accepts.
const Token = "123456:TEST-token_s3cret"

// Call is one Bot API request the fake received.
type Call struct {
	Method string
	Params url.Values
	// Files are uploaded files by form field (multipart requests).
	Files map[string][]byte
}

// Server is the fake Bot API.
type Server struct {
	*httptest.Server
	t testing.TB

	mu       sync.Mutex
	updates  []tgbotapi.Update // not yet confirmed
	nextID   int
	msgID    int
	calls    []Call
	failures map[string][]failure
	files    map[string]file // by file_id
	webhook  url.Values      // last setWebhook params, nil when none
	changed  chan struct{}   // closed and replaced on every change (updates or calls)
	quit     chan struct{}   // closed by Close: pending long polls return at once
	quitOnce sync.Once
}

type failure struct {
	at         int // the method's n-th call (1-based) fails; 0: the next call
	code       int
	desc       string
	retryAfter int
}

type file struct {
	path string
	data []byte
	size int
}

// New starts a fake Bot API for the Token; it stops with the test.
func New(t testing.TB) *Server {
	s := &Server{t: t, nextID: 1000, msgID: 500, failures: map[string][]failure{}, files: map[string]file{},
		changed: make(chan struct{}), quit: make(chan struct{})}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /{bot}/{method}", s.api)
	mux.HandleFunc("GET /file/{bot}/{path...}", s.download)
	s.Server = httptest.NewServer(mux)
	t.Cleanup(s.Close)
	return s
}

// Close ends pending long polls and stops the server (Telegram becomes unreachable).
func (s *Server) Close() {
	s.quitOnce.Do(func() { close(s.quit) })
	s.Server.Close()
}

// Endpoint is the API endpoint format the library takes (token, then method).
func (s *Server) Endpoint() string { return s.URL + "/bot%s/%s" }

// Changed returns a channel closed at the next change of the fake (a call or an update).
func (s *Server) Changed() <-chan struct{} {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.changed
}

func (s *Server) notify() {
	close(s.changed)
	s.changed = make(chan struct{})
}

// Push queues updates for getUpdates, numbering those without an update_id, and returns
// them as queued.
func (s *Server) Push(ups ...tgbotapi.Update) []tgbotapi.Update {
	s.mu.Lock()
	defer s.mu.Unlock()
	for i := range ups {
		if ups[i].UpdateID == 0 {
			s.nextID++
			ups[i].UpdateID = s.nextID
		}
		s.updates = append(s.updates, ups[i])
	}
	s.notify()
	return ups
}

// NextUpdateID numbers an update the way Push would, for tests that post updates to a
// webhook themselves.
func (s *Server) NextUpdateID() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.nextID++
	return s.nextID
}

// Unconfirmed is how many pushed updates no getUpdates offset has confirmed yet.
func (s *Server) Unconfirmed() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.updates)
}

// Fail makes the next call of method fail with the given Bot API error. retryAfter > 0
// adds parameters.retry_after (as Telegram does for 429).
func (s *Server) Fail(method string, code int, description string, retryAfter int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.failures[method] = append(s.failures[method], failure{0, code, description, retryAfter})
}

// FailCall makes the n-th call (1-based, counting all calls so far) of method fail.
func (s *Server) FailCall(method string, n, code int, description string, retryAfter int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.failures[method] = append(s.failures[method], failure{n, code, description, retryAfter})
}

// AddFile makes a file downloadable through getFile and the file endpoint.
func (s *Server) AddFile(fileID, path string, data []byte) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.files[fileID] = file{path: path, data: data, size: len(data)}
}

// AddBigFile registers a file that getFile refuses as too big, as Telegram does past 20 MB.
func (s *Server) AddBigFile(fileID string, size int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.files[fileID] = file{size: size}
}

// Calls returns the calls of method so far (all calls when method is "").
func (s *Server) Calls(method string) []Call {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []Call
	for _, c := range s.calls {
		if method == "" || c.Method == method {
			out = append(out, c)
		}
	}
	return out
}

// WaitCalls waits until method was called at least n times and returns those calls.
func (s *Server) WaitCalls(t testing.TB, method string, n int) []Call {
	t.Helper()
	deadline := time.After(10 * time.Second)
	for {
		s.mu.Lock()
		ch := s.changed
		s.mu.Unlock()
		if got := s.Calls(method); len(got) >= n {
			return got
		}
		select {
		case <-ch:
		case <-deadline:
			t.Fatalf("telegramtest: %s called %d times within 10s, want %d; calls: %v", method, len(s.Calls(method)), n, s.methods())
		}
	}
}

// WaitUntil waits until cond (checked after every change of the fake) holds.
func (s *Server) WaitUntil(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.After(10 * time.Second)
	for {
		s.mu.Lock()
		ch := s.changed
		s.mu.Unlock()
		if cond() {
			return
		}
		select {
		case <-ch:
		case <-deadline:
			t.Fatalf("telegramtest: %s did not happen within 10s; calls: %v", what, s.methods())
		}
	}
}

func (s *Server) methods() []string {
	var out []string
	for _, c := range s.Calls("") {
		out = append(out, c.Method)
	}
	return out
}

// Webhook returns the parameters of the last setWebhook (nil after deleteWebhook).
func (s *Server) Webhook() url.Values {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.webhook
}

func (s *Server) api(w http.ResponseWriter, r *http.Request) {
	if r.PathValue("bot") != "bot"+Token {
		writeJSON(w, http.StatusUnauthorized, map[string]any{"ok": false, "error_code": 401, "description": "Unauthorized"})
		return
	}
	method := r.PathValue("method")
	call := Call{Method: method}
	if strings.HasPrefix(r.Header.Get("Content-Type"), "multipart/") {
		if err := r.ParseMultipartForm(32 << 20); err != nil {
			writeJSON(w, 400, map[string]any{"ok": false, "error_code": 400, "description": "Bad Request: " + err.Error()})
			return
		}
		call.Params = url.Values(r.MultipartForm.Value)
		call.Files = map[string][]byte{}
		for field, fhs := range r.MultipartForm.File {
			f, err := fhs[0].Open()
			if err == nil {
				call.Files[field], _ = io.ReadAll(f)
				f.Close()
			}
		}
	} else if err := r.ParseForm(); err != nil {
		writeJSON(w, 400, map[string]any{"ok": false, "error_code": 400, "description": "Bad Request: " + err.Error()})
		return
	} else {
		call.Params = r.PostForm
	}

	s.mu.Lock()
	s.calls = append(s.calls, call)
	s.notify()
	n := 0
	for _, c := range s.calls {
		if c.Method == method {
			n++
		}
	}
	fail := -1
	for i, f := range s.failures[method] {
		if f.at == 0 || f.at == n {
			fail = i
			break
		}
	}
	if fail >= 0 {
		f := s.failures[method][fail]
		s.failures[method] = slices.Delete(s.failures[method], fail, fail+1)
		s.mu.Unlock()
		body := map[string]any{"ok": false, "error_code": f.code, "description": f.desc}
		if f.retryAfter > 0 {
			body["parameters"] = map[string]any{"retry_after": f.retryAfter}
		}
		writeJSON(w, f.code, body)
		return
	}
	s.mu.Unlock()

	switch method {
	case "getMe":
		ok(w, map[string]any{"id": 1, "is_bot": true, "first_name": "Test", "username": "test_support_bot"})
	case "getUpdates":
		s.getUpdates(w, r, call)
	case "sendMessage", "sendPhoto", "sendDocument":
		s.mu.Lock()
		s.msgID++
		id := s.msgID
		s.mu.Unlock()
		chat, _ := strconv.ParseInt(call.Params.Get("chat_id"), 10, 64)
		ok(w, map[string]any{"message_id": id, "date": time.Now().Unix(), "chat": map[string]any{"id": chat, "type": "private"},
			"text": call.Params.Get("text")})
	case "sendChatAction", "answerCallbackQuery", "deleteWebhook":
		if method == "deleteWebhook" {
			s.mu.Lock()
			s.webhook = nil
			s.notify()
			s.mu.Unlock()
		}
		ok(w, true)
	case "editMessageReplyMarkup":
		ok(w, map[string]any{"message_id": call.Params.Get("message_id"), "date": time.Now().Unix(),
			"chat": map[string]any{"id": call.Params.Get("chat_id"), "type": "private"}})
	case "setWebhook":
		s.mu.Lock()
		s.webhook = call.Params
		s.notify()
		s.mu.Unlock()
		ok(w, true)
	case "getFile":
		s.mu.Lock()
		f, found := s.files[call.Params.Get("file_id")]
		s.mu.Unlock()
		switch {
		case !found:
			writeJSON(w, 400, map[string]any{"ok": false, "error_code": 400, "description": "Bad Request: invalid file_id"})
		case f.path == "":
			writeJSON(w, 400, map[string]any{"ok": false, "error_code": 400, "description": "Bad Request: file is too big"})
		default:
			ok(w, map[string]any{"file_id": call.Params.Get("file_id"), "file_unique_id": "u" + call.Params.Get("file_id"),
				"file_size": f.size, "file_path": f.path})
		}
	default:
		writeJSON(w, 404, map[string]any{"ok": false, "error_code": 404, "description": "Not Found: method not found"})
	}
}

// getUpdates answers like Telegram: an offset confirms every update below it; the call
// waits up to timeout seconds for an update to arrive.
//
// Calls are recorded when they arrive, so a poll still waiting shows up in Calls.
func (s *Server) getUpdates(w http.ResponseWriter, r *http.Request, call Call) {
	offset, _ := strconv.Atoi(call.Params.Get("offset"))
	limit, _ := strconv.Atoi(call.Params.Get("limit"))
	if limit <= 0 || limit > 100 {
		limit = 100
	}
	timeout, _ := strconv.Atoi(call.Params.Get("timeout"))
	deadline := time.After(time.Duration(timeout) * time.Second)
	for {
		s.mu.Lock()
		if s.webhook != nil {
			s.mu.Unlock()
			writeJSON(w, 409, map[string]any{"ok": false, "error_code": 409,
				"description": "Conflict: can't use getUpdates method while webhook is active; use deleteWebhook to delete the webhook first"})
			return
		}
		if n := len(s.updates); offset > 0 {
			s.updates = slices.DeleteFunc(s.updates, func(u tgbotapi.Update) bool { return u.UpdateID < offset })
			if len(s.updates) != n {
				s.notify()
			}
		}
		var out []tgbotapi.Update
		for _, u := range s.updates {
			if len(out) < limit {
				out = append(out, u)
			}
		}
		if len(out) > 0 || timeout == 0 {
			s.mu.Unlock()
			ok(w, out)
			return
		}
		ch := s.changed
		s.mu.Unlock()
		select {
		case <-ch:
		case <-deadline:
			timeout = 0
		case <-s.quit:
			timeout = 0
		case <-r.Context().Done():
			return
		}
	}
}

func (s *Server) download(w http.ResponseWriter, r *http.Request) {
	if r.PathValue("bot") != "bot"+Token {
		http.Error(w, "Unauthorized", http.StatusUnauthorized)
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, f := range s.files {
		if f.path != "" && f.path == r.PathValue("path") {
			w.Write(f.data)
			return
		}
	}
	http.NotFound(w, r)
}

func ok(w http.ResponseWriter, result any) {
	writeJSON(w, 200, map[string]any{"ok": true, "result": result})
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	if err := json.NewEncoder(w).Encode(v); err != nil {
		panic(fmt.Sprintf("telegramtest: encode: %v", err))
	}
}

// Private is a private chat with a user of that id and first name.
func Private(id int64, name string) *tgbotapi.Chat {
	return &tgbotapi.Chat{ID: id, Type: "private", FirstName: name}
}

// From is the user of a private chat.
func From(id int64, name, lang string) *tgbotapi.User {
	return &tgbotapi.User{ID: id, FirstName: name, LanguageCode: lang}
}

// Text is an update carrying a text message from user id (named name) in their private
// chat. Text starting with "/" carries a bot_command entity, as Telegram sends it.
func Text(msgID int, id int64, name, text string) tgbotapi.Update {
	m := &tgbotapi.Message{MessageID: msgID, From: From(id, name, "en"), Chat: Private(id, name),
		Date: int(time.Now().Unix()), Text: text}
	if strings.HasPrefix(text, "/") {
		cmd, _, _ := strings.Cut(text, " ")
		m.Entities = []tgbotapi.MessageEntity{{Type: "bot_command", Offset: 0, Length: len(cmd)}}
	}
	return tgbotapi.Update{Message: m}
}

// Callback is an update for a press of an inline-keyboard button with data on message
// msgID (whose keyboard had the button labelled label).
func Callback(queryID string, msgID int, id int64, name, label, data string) tgbotapi.Update {
	kb := tgbotapi.NewInlineKeyboardMarkup(tgbotapi.NewInlineKeyboardRow(tgbotapi.NewInlineKeyboardButtonData(label, data)))
	return tgbotapi.Update{CallbackQuery: &tgbotapi.CallbackQuery{ID: queryID, From: From(id, name, "en"), Data: data,
		ChatInstance: "ci", Message: &tgbotapi.Message{MessageID: msgID, Chat: Private(id, name),
			Date: int(time.Now().Unix()), Text: "question", ReplyMarkup: &kb}}}
}

// Keyboard decodes the reply_markup of a call as an inline keyboard (nil when absent).
func Keyboard(t testing.TB, c Call) *tgbotapi.InlineKeyboardMarkup {
	t.Helper()
	raw := c.Params.Get("reply_markup")
	if raw == "" || raw == "null" {
		return nil
	}
	var kb tgbotapi.InlineKeyboardMarkup
	if err := json.Unmarshal([]byte(raw), &kb); err != nil {
		t.Fatalf("telegramtest: reply_markup %q: %v", raw, err)
	}
	return &kb
}
