package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"strings"
	"testing"
	"time"
)

// agentAPI is an agent using the panel's HTTP API the way the panel's own scripts do:
// signed in through the login form, with the session cookie and the CSRF token.
type agentAPI struct {
	t    *testing.T
	base string
	c    *http.Client
}

func signIn(t *testing.T, base, email, password string) *agentAPI {
	t.Helper()
	jar, _ := cookiejar.New(nil)
	c := &http.Client{Jar: jar, Timeout: 20 * time.Second}
	resp, err := c.Get(base + "/login")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	u, _ := url.Parse(base + "/login")
	var loginToken string
	for _, ck := range jar.Cookies(u) {
		if ck.Name == "concierge_login" {
			loginToken = ck.Value
		}
	}
	form := url.Values{"email": {email}, "password": {password}, "csrf_token": {loginToken}, "next": {"/agent"}}
	req, _ := http.NewRequest(http.MethodPost, base+"/login", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Origin", base)
	resp, err = c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	a := &agentAPI{t: t, base: base, c: c}
	if code, body := a.call("GET", "bootstrap", nil, nil); code != 200 {
		t.Fatalf("sign in as %s: bootstrap answered %d %s", email, code, body)
	}
	return a
}

func (a *agentAPI) csrf() string {
	u, _ := url.Parse(a.base)
	for _, ck := range a.c.Jar.Cookies(u) {
		if ck.Name == "concierge_csrf" {
			return ck.Value
		}
	}
	return ""
}

// call sends a request to /agent/api/<path>; in, when set, is sent as JSON and out
// receives the JSON answer.
func (a *agentAPI) call(method, path string, in, out any) (int, string) {
	a.t.Helper()
	var body io.Reader
	if in != nil {
		b, _ := json.Marshal(in)
		body = strings.NewReader(string(b))
	}
	req, _ := http.NewRequest(method, a.base+"/agent/api/"+path, body)
	req.Header.Set("Accept", "application/json")
	req.Header.Set("Origin", a.base)
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if method != http.MethodGet {
		req.Header.Set("X-CSRF-Token", a.csrf())
	}
	resp, err := a.c.Do(req)
	if err != nil {
		a.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if out != nil && resp.StatusCode < 300 {
		if err := json.Unmarshal(b, out); err != nil {
			a.t.Fatalf("%s %s: decode %s: %v", method, path, b, err)
		}
	}
	return resp.StatusCode, string(b)
}

// must is call that fails the test unless the API answered 2xx.
func (a *agentAPI) must(method, path string, in, out any) string {
	a.t.Helper()
	code, body := a.call(method, path, in, out)
	if code >= 300 {
		a.t.Fatalf("%s %s: %d %s", method, path, code, body)
	}
	return body
}

// queuedConversation waits until a conversation is waiting in the queue and returns its id.
func (a *agentAPI) queuedConversation() int64 {
	a.t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		var q struct {
			Queued []struct {
				Conversation struct {
					ID int64 `json:"id"`
				} `json:"conversation"`
			} `json:"queued"`
		}
		a.must("GET", "queue", nil, &q)
		if len(q.Queued) > 0 {
			return q.Queued[0].Conversation.ID
		}
		if time.Now().After(deadline) {
			a.t.Fatal("no conversation reached the queue")
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// rating waits until the conversation's ticket carries the customer's rating.
func (a *agentAPI) rating(id int64) int {
	a.t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		var v struct {
			Ticket struct {
				Rating int `json:"rating"`
			} `json:"ticket"`
		}
		a.must("GET", fmt.Sprintf("conversations/%d", id), nil, &v)
		if v.Ticket.Rating != 0 || time.Now().After(deadline) {
			return v.Ticket.Rating
		}
		time.Sleep(50 * time.Millisecond)
	}
}
