package wechat

import (
	"encoding/json"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// fakeAPI is a loopback stand-in for api.weixin.qq.com speaking its wire protocol: tokens
// (stable and classic), customer-service messages, typing, media download and upload.
type fakeAPI struct {
	t      testing.TB
	srv    *httptest.Server
	appID  string
	secret string

	mu          sync.Mutex
	issued      int             // tokens handed out
	valid       string          // the token the API accepts
	expired     map[string]bool // tokens that answer 42001
	tokenTTL    int64
	script      map[string][]int // path → error codes to answer next, in order
	sent        []sentMessage
	typing      []string
	media       map[string][]byte
	uploads     map[string][]byte
	calls       map[string]int
	got         chan sentMessage
	kfMsgs      []map[string]any // what sync_msg serves; the cursor is an index into it
	kfSyncToken []string         // the callback tokens sync_msg was called with
	// tokenGate, when set, holds stable_token calls until closed; tokenEntered says one arrived.
	tokenGate    chan struct{}
	tokenEntered chan struct{}
}

// dropConnection, scripted as an error code, closes the connection without an answer.
const dropConnection = 999999

type sentMessage struct {
	To      string
	Type    string
	Text    string
	MediaID string
	// WeCom customer service only.
	Op       string
	OpenKfID string
	MsgID    string
	Code     string
	Menu     []string // click ids of a msgmenu
}

func newFakeAPI(t testing.TB, appID, secret string) *fakeAPI {
	f := &fakeAPI{t: t, appID: appID, secret: secret, expired: map[string]bool{}, tokenTTL: 7200,
		script: map[string][]int{}, media: map[string][]byte{}, uploads: map[string][]byte{},
		calls: map[string]int{}, got: make(chan sentMessage, 100), tokenEntered: make(chan struct{}, 100)}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /cgi-bin/stable_token", f.stableToken)
	mux.HandleFunc("GET /cgi-bin/token", f.classicToken)
	mux.HandleFunc("POST /cgi-bin/message/custom/send", f.authed(f.customSend))
	mux.HandleFunc("POST /cgi-bin/message/custom/typing", f.authed(f.customTyping))
	mux.HandleFunc("GET /cgi-bin/media/get", f.authed(f.mediaGet))
	mux.HandleFunc("POST /cgi-bin/media/upload", f.authed(f.mediaUpload))
	// WeCom customer service (qyapi.weixin.qq.com).
	mux.HandleFunc("GET /cgi-bin/gettoken", f.wecomToken)
	mux.HandleFunc("POST /cgi-bin/kf/sync_msg", f.authed(f.kfSync))
	mux.HandleFunc("POST /cgi-bin/kf/send_msg", f.authed(f.kfSend))
	mux.HandleFunc("POST /cgi-bin/kf/send_msg_on_event", f.authed(f.kfSend))
	f.srv = httptest.NewServer(mux)
	t.Cleanup(f.srv.Close)
	return f
}

func answer(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	json.NewEncoder(w).Encode(v)
}

func errAnswer(w http.ResponseWriter, code int) {
	answer(w, map[string]any{"errcode": code, "errmsg": fmt.Sprintf("fake error %d rid: 1", code)})
}

// fail makes the next calls of path answer the given codes.
func (f *fakeAPI) fail(path string, codes ...int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.script[path] = append(f.script[path], codes...)
}

// expire makes WeChat forget the current token (42001 for it from now on).
func (f *fakeAPI) expire() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.expired[f.valid] = true
	f.valid = ""
}

// overwrite replaces the current token as another tool's refresh would (40001 for it).
func (f *fakeAPI) overwrite() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.issued++
	f.valid = fmt.Sprintf("tok-%d", f.issued)
}

func (f *fakeAPI) count(path string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.calls[path]
}

func (f *fakeAPI) tokensIssued() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.issued
}

func (f *fakeAPI) messages() []sentMessage {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]sentMessage(nil), f.sent...)
}

func (f *fakeAPI) mint() string {
	f.issued++
	f.valid = fmt.Sprintf("tok-%d", f.issued)
	return f.valid
}

func (f *fakeAPI) stableToken(w http.ResponseWriter, r *http.Request) {
	var req struct {
		GrantType    string `json:"grant_type"`
		AppID        string `json:"appid"`
		Secret       string `json:"secret"`
		ForceRefresh bool   `json:"force_refresh"`
	}
	if err := json.NewDecoder(r.Body).Decode(&req); err != nil || req.GrantType != "client_credential" {
		errAnswer(w, 40002)
		return
	}
	f.mu.Lock()
	gate := f.tokenGate
	f.mu.Unlock()
	if gate != nil {
		f.tokenEntered <- struct{}{}
		<-gate
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls["stable_token"]++
	if req.AppID != f.appID || req.Secret != f.secret {
		errAnswer(w, 40125)
		return
	}
	if req.ForceRefresh {
		f.t.Errorf("stable_token called with force_refresh (limited to 20 a day)")
	}
	tok := f.valid // stable tokens: the same token until it expires
	if tok == "" {
		tok = f.mint()
	}
	answer(w, map[string]any{"access_token": tok, "expires_in": f.tokenTTL})
}

func (f *fakeAPI) classicToken(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls["token"]++
	if q.Get("grant_type") != "client_credential" || q.Get("appid") != f.appID || q.Get("secret") != f.secret {
		errAnswer(w, 40125)
		return
	}
	// A classic fetch always mints a new token; the previous one then answers 40001.
	answer(w, map[string]any{"access_token": f.mint(), "expires_in": f.tokenTTL})
}

// authed checks the access token, then plays scripted errors, then calls h.
func (f *fakeAPI) authed(h func(w http.ResponseWriter, r *http.Request)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		path := strings.TrimPrefix(r.URL.Path, "/cgi-bin/")
		tok := r.URL.Query().Get("access_token")
		f.mu.Lock()
		f.calls[path]++
		var code int
		switch {
		case f.expired[tok]:
			code = 42001
		case tok == "" || tok != f.valid:
			code = 40001
		case len(f.script[path]) > 0:
			code = f.script[path][0]
			f.script[path] = f.script[path][1:]
		}
		f.mu.Unlock()
		switch code {
		case 0:
			h(w, r)
		case dropConnection:
			conn, _, err := http.NewResponseController(w).Hijack()
			if err == nil {
				conn.Close()
			}
		default:
			errAnswer(w, code)
		}
	}
}

func (f *fakeAPI) customSend(w http.ResponseWriter, r *http.Request) {
	var req struct {
		ToUser  string `json:"touser"`
		MsgType string `json:"msgtype"`
		Text    struct {
			Content string `json:"content"`
		} `json:"text"`
		Image struct {
			MediaID string `json:"media_id"`
		} `json:"image"`
	}
	if err := json.NewDecoder(r.Body).Decode(&req); err != nil || req.ToUser == "" {
		errAnswer(w, 44002)
		return
	}
	m := sentMessage{To: req.ToUser, Type: req.MsgType, Text: req.Text.Content, MediaID: req.Image.MediaID}
	if m.Type == "text" && len(m.Text) > 2048 {
		errAnswer(w, 45002)
		return
	}
	f.mu.Lock()
	f.sent = append(f.sent, m)
	f.mu.Unlock()
	f.got <- m
	errAnswer(w, 0)
}

func (f *fakeAPI) customTyping(w http.ResponseWriter, r *http.Request) {
	var req struct {
		ToUser  string `json:"touser"`
		Command string `json:"command"`
	}
	json.NewDecoder(r.Body).Decode(&req)
	f.mu.Lock()
	f.typing = append(f.typing, req.ToUser+":"+req.Command)
	f.mu.Unlock()
	errAnswer(w, 0)
}

func (f *fakeAPI) mediaGet(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	data, ok := f.media[r.URL.Query().Get("media_id")]
	f.mu.Unlock()
	if !ok {
		errAnswer(w, 40007)
		return
	}
	w.Header().Set("Content-Type", "image/jpeg")
	w.Header().Set("Content-Disposition", `attachment; filename="MEDIA.jpg"`)
	w.Write(data)
}

func (f *fakeAPI) mediaUpload(w http.ResponseWriter, r *http.Request) {
	if r.URL.Query().Get("type") != "image" {
		errAnswer(w, 40004)
		return
	}
	ct, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if ct != "multipart/form-data" {
		errAnswer(w, 41005)
		return
	}
	if err := r.ParseMultipartForm(10 << 20); err != nil {
		errAnswer(w, 41005)
		return
	}
	file, _, err := r.FormFile("media")
	if err != nil {
		errAnswer(w, 41005)
		return
	}
	data, _ := io.ReadAll(file)
	f.mu.Lock()
	id := fmt.Sprintf("up-%d", len(f.uploads)+1)
	f.uploads[id] = data
	f.mu.Unlock()
	answer(w, map[string]any{"type": "image", "media_id": id, "created_at": time.Now().Unix()})
}

// waitSent waits for the next customer-service message.
func (f *fakeAPI) waitSent(t *testing.T) sentMessage {
	t.Helper()
	select {
	case m := <-f.got:
		return m
	case <-time.After(10 * time.Second):
		t.Fatal("no customer-service message sent within 10s")
	}
	return sentMessage{}
}

// noMoreSent asserts nothing else is sent for a short while.
func (f *fakeAPI) noMoreSent(t *testing.T, d time.Duration) {
	t.Helper()
	select {
	case m := <-f.got:
		t.Fatalf("unexpected customer-service message %+v", m)
	case <-time.After(d):
	}
}

func (f *fakeAPI) wecomToken(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls["gettoken"]++
	if q.Get("corpid") != f.appID || q.Get("corpsecret") != f.secret {
		errAnswer(w, 40001)
		return
	}
	tok := f.valid
	if tok == "" {
		tok = f.mint()
	}
	answer(w, map[string]any{"errcode": 0, "errmsg": "ok", "access_token": tok, "expires_in": f.tokenTTL})
}

// addKf queues messages for sync_msg.
func (f *fakeAPI) addKf(msgs ...map[string]any) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.kfMsgs = append(f.kfMsgs, msgs...)
}

// kfSync serves kfMsgs two per page, so that has_more and next_cursor are exercised.
func (f *fakeAPI) kfSync(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Cursor   string `json:"cursor"`
		Token    string `json:"token"`
		Limit    int    `json:"limit"`
		OpenKfID string `json:"open_kfid"`
	}
	if err := json.NewDecoder(r.Body).Decode(&req); err != nil || req.OpenKfID == "" || req.Limit < 1 || req.Limit > 1000 {
		errAnswer(w, 40058)
		return
	}
	from := 0
	if req.Cursor != "" {
		n, err := strconv.Atoi(req.Cursor)
		if err != nil {
			errAnswer(w, 95007)
			return
		}
		from = n
	}
	f.mu.Lock()
	f.kfSyncToken = append(f.kfSyncToken, req.Token)
	to := min(from+2, len(f.kfMsgs))
	page := append([]map[string]any{}, f.kfMsgs[min(from, to):to]...)
	more := to < len(f.kfMsgs)
	f.mu.Unlock()
	hasMore := 0
	if more {
		hasMore = 1
	}
	answer(w, map[string]any{"errcode": 0, "errmsg": "ok", "next_cursor": strconv.Itoa(to), "has_more": hasMore, "msg_list": page})
}

func (f *fakeAPI) kfSend(w http.ResponseWriter, r *http.Request) {
	var req struct {
		ToUser   string `json:"touser"`
		OpenKfID string `json:"open_kfid"`
		MsgID    string `json:"msgid"`
		Code     string `json:"code"`
		MsgType  string `json:"msgtype"`
		Text     struct {
			Content string `json:"content"`
		} `json:"text"`
		Image struct {
			MediaID string `json:"media_id"`
		} `json:"image"`
		MsgMenu struct {
			HeadContent string `json:"head_content"`
			List        []struct {
				Type  string `json:"type"`
				Click struct {
					ID      string `json:"id"`
					Content string `json:"content"`
				} `json:"click"`
			} `json:"list"`
		} `json:"msgmenu"`
	}
	if err := json.NewDecoder(r.Body).Decode(&req); err != nil || len(req.MsgID) > 32 {
		errAnswer(w, 40058)
		return
	}
	onEvent := strings.HasSuffix(r.URL.Path, "send_msg_on_event")
	if (onEvent && req.Code == "") || (!onEvent && (req.ToUser == "" || req.OpenKfID == "")) {
		errAnswer(w, 40058)
		return
	}
	m := sentMessage{Op: strings.TrimPrefix(r.URL.Path, "/cgi-bin/"), To: req.ToUser, OpenKfID: req.OpenKfID,
		MsgID: req.MsgID, Code: req.Code, Type: req.MsgType, Text: req.Text.Content, MediaID: req.Image.MediaID}
	if req.MsgType == "msgmenu" {
		m.Text = req.MsgMenu.HeadContent
		for _, it := range req.MsgMenu.List {
			m.Menu = append(m.Menu, it.Click.ID)
		}
	}
	f.mu.Lock()
	f.sent = append(f.sent, m)
	f.mu.Unlock()
	f.got <- m
	answer(w, map[string]any{"errcode": 0, "errmsg": "ok", "msgid": req.MsgID})
}
