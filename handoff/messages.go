package handoff

import (
	"fmt"
	"strings"
	"time"

	"github.com/conciergehq/concierge"
)

// What the customer is told, in the conversation's language (English unless it is Chinese).
type phrases struct {
	queued, queuedNoETA, position, positionNoETA, offline, offlineHaveEmail, emailThanks, joined,
	transferred, requeued, closed, survey, thanks string
	weekdays [7]string
	minutes  func(int) string
}

var english = phrases{
	queued:           "You're in the queue for a person: number %d. Estimated wait: about %s. Keep writing here if you like; they will see everything.",
	queuedNoETA:      "You're in the queue for a person: number %d. Someone will be with you as soon as they are free; keep writing here if you like.",
	position:         "Update: you're now number %d in the queue (about %s).",
	positionNoETA:    "Update: you're now number %d in the queue.",
	offline:          "Our team is away right now and back %s. Leave your email address here and we'll follow up; your conversation is saved and a person will answer in this chat.",
	offlineHaveEmail: "Our team is away right now and back %s. Your conversation is saved; a person will answer in this chat, or at %s.",
	emailThanks:      "Thanks, we'll reach you at %s if you're gone by the time we reply.",
	joined:           "%s joined the conversation.",
	transferred:      "We're passing your conversation to our %s team; they can see everything so far.",
	requeued:         "Your agent was disconnected, so you're back in the queue; the next person free will take over.",
	closed:           "This conversation has been closed. Write again any time to start a new one.",
	survey:           "How would you rate the help you got, from 1 (poor) to 5 (excellent)? Reply with the number, and a comment after it if you like.",
	thanks:           "Thank you for your feedback!",
	weekdays:         [7]string{"Sunday", "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday"},
	minutes: func(n int) string {
		if n == 1 {
			return "1 minute"
		}
		return fmt.Sprintf("%d minutes", n)
	},
}

var chinese = phrases{
	queued:           "您已进入人工客服队列，当前排在第 %d 位，预计等待约 %s。您可以继续在此留言，客服会看到全部内容。",
	queuedNoETA:      "您已进入人工客服队列，当前排在第 %d 位。客服空闲后会尽快为您服务，您可以继续在此留言。",
	position:         "更新：您现在排在第 %d 位（约 %s）。",
	positionNoETA:    "更新：您现在排在第 %d 位。",
	offline:          "我们的团队现在不在线，将于%s回来。请在此留下您的邮箱地址，我们会跟进；您的对话已保存，客服会在此回复您。",
	offlineHaveEmail: "我们的团队现在不在线，将于%s回来。您的对话已保存，客服会在此或通过 %s 回复您。",
	emailThanks:      "谢谢，如果届时您已离开，我们会通过 %s 联系您。",
	joined:           "%s 已加入对话。",
	transferred:      "我们正在将您的对话转给%s团队，他们可以看到之前的全部内容。",
	requeued:         "您的客服连接已断开，您已回到队列中，下一位空闲的客服将接手。",
	closed:           "本次对话已结束。如有需要，随时可以再次留言开始新的对话。",
	survey:           "请为本次服务评分：1（很差）到 5（很好）。回复数字即可，也可以在数字后附上您的意见。",
	thanks:           "感谢您的反馈！",
	weekdays:         [7]string{"周日", "周一", "周二", "周三", "周四", "周五", "周六"},
	minutes:          func(n int) string { return fmt.Sprintf("%d 分钟", n) },
}

func phrasesFor(lang string) *phrases {
	if strings.HasPrefix(strings.ToLower(lang), "zh") {
		return &chinese
	}
	return &english
}

// when formats the moment a team is back: "Monday 09:00 (Europe/Berlin)".
func (p *phrases) when(t time.Time) string {
	s := fmt.Sprintf("%s %s", p.weekdays[t.Weekday()], t.Format("15:04"))
	if p == &chinese {
		s = " " + s
	}
	return fmt.Sprintf("%s (%s)", s, t.Location())
}

func (p *phrases) eta(d time.Duration) string {
	n := int((d + time.Minute - 1) / time.Minute)
	return p.minutes(max(n, 1))
}

// surveyReplies are the survey's buttons; channels without buttons number them.
func surveyReplies() []concierge.QuickReply {
	out := make([]concierge.QuickReply, 5)
	for i := range out {
		out[i] = concierge.QuickReply{Label: fmt.Sprint(i + 1), Payload: fmt.Sprintf("csat:%d", i+1)}
	}
	return out
}
