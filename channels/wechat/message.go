package wechat

import (
	"bytes"
	"encoding/xml"
	"strconv"
	"strings"
	"unicode/utf8"
)

// envelope is the outer XML of a safe- or compatible-mode callback.
type envelope struct {
	XMLName    xml.Name `xml:"xml"`
	ToUserName string   `xml:"ToUserName"`
	Encrypt    string   `xml:"Encrypt"`
}

// callback is one message or event WeChat pushed to the account. All types share one
// struct, as in WeChat's own documentation; fields a type does not use stay empty.
type callback struct {
	XMLName      xml.Name `xml:"xml"`
	ToUserName   string   `xml:"ToUserName"`
	FromUserName string   `xml:"FromUserName"`
	CreateTime   int64    `xml:"CreateTime"`
	MsgType      string   `xml:"MsgType"`
	// MsgID is 64-bit; kept as text since it is only ever compared.
	MsgID        string `xml:"MsgId"`
	Content      string `xml:"Content"`
	PicURL       string `xml:"PicUrl"`
	MediaID      string `xml:"MediaId"`
	Format       string `xml:"Format"`
	Recognition  string `xml:"Recognition"`
	ThumbMediaID string `xml:"ThumbMediaId"`
	LocationX    string `xml:"Location_X"`
	LocationY    string `xml:"Location_Y"`
	Scale        string `xml:"Scale"`
	Label        string `xml:"Label"`
	Title        string `xml:"Title"`
	Description  string `xml:"Description"`
	URL          string `xml:"Url"`
	Event        string `xml:"Event"`
	EventKey     string `xml:"EventKey"`
	Ticket       string `xml:"Ticket"`
}

// parseCallback decodes a plaintext callback body. The root must be <xml>.
func parseCallback(body []byte) (*callback, error) {
	var m callback
	if err := xml.Unmarshal(body, &m); err != nil {
		return nil, err
	}
	return &m, nil
}

// dedupeKey identifies one delivery across WeChat's retries: the MsgId of a message, or
// sender + time + event (+ key) of an event, as WeChat's documentation advises.
func (m *callback) dedupeKey() string {
	if m.MsgType != "event" && m.MsgID != "" {
		return m.MsgID
	}
	key := "event:" + m.FromUserName + ":" + strconv.FormatInt(m.CreateTime, 10) + ":" + m.Event
	if m.EventKey != "" {
		key += ":" + m.EventKey
	}
	return key
}

// textReply is a passive reply: the answer to a callback, in its HTTP response.
func textReply(toUser, fromUser string, created int64, content string) []byte {
	var b bytes.Buffer
	b.WriteString("<xml><ToUserName>")
	cdata(&b, toUser)
	b.WriteString("</ToUserName><FromUserName>")
	cdata(&b, fromUser)
	b.WriteString("</FromUserName><CreateTime>")
	b.WriteString(strconv.FormatInt(created, 10))
	b.WriteString("</CreateTime><MsgType><![CDATA[text]]></MsgType><Content>")
	cdata(&b, content)
	b.WriteString("</Content></xml>")
	return b.Bytes()
}

// encryptedReply wraps a passive reply for safe mode, signed over its own timestamp and nonce.
func encryptedReply(c *Cipher, token string, plain []byte, timestamp, nonce string) []byte {
	enc := c.Encrypt(plain)
	var b bytes.Buffer
	b.WriteString("<xml><Encrypt>")
	cdata(&b, enc)
	b.WriteString("</Encrypt><MsgSignature>")
	cdata(&b, Signature(token, timestamp, nonce, enc))
	b.WriteString("</MsgSignature><TimeStamp>")
	b.WriteString(timestamp)
	b.WriteString("</TimeStamp><Nonce>")
	cdata(&b, nonce)
	b.WriteString("</Nonce></xml>")
	return b.Bytes()
}

// cdata writes s as CDATA: a "]]>" inside is split across two sections, and characters
// XML 1.0 forbids (most control characters, broken UTF-8) are dropped, since WeChat
// refuses a reply it cannot parse and the customer would then see an error.
func cdata(b *bytes.Buffer, s string) {
	b.WriteString("<![CDATA[")
	s = strings.ReplaceAll(s, "]]>", "]]]]><![CDATA[>")
	for i, r := range s {
		if r == utf8.RuneError {
			if _, size := utf8.DecodeRuneInString(s[i:]); size == 1 {
				continue
			}
		}
		if r == '\t' || r == '\n' || r == '\r' || (r >= 0x20 && r <= 0xD7FF) || (r >= 0xE000 && r <= 0xFFFD) || r >= 0x10000 {
			b.WriteRune(r)
		}
	}
	b.WriteString("]]>")
}
