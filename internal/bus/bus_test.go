package bus

import (
	"testing"

	"github.com/conciergehq/concierge"
)

func TestPublishReachesEverySubscriberOfTheTopicOnly(t *testing.T) {
	b := New()
	a1 := b.Subscribe("a", 4)
	a2 := b.Subscribe("a", 4)
	other := b.Subscribe("b", 4)
	b.Publish("a", concierge.Event{Kind: concierge.EventMessage, ConversationID: 7})
	for i, s := range []*Subscription{a1, a2} {
		select {
		case ev := <-s.C:
			if ev.ConversationID != 7 {
				t.Fatalf("subscriber %d got %+v, want conversation 7", i, ev)
			}
		default:
			t.Fatalf("subscriber %d got nothing", i)
		}
	}
	select {
	case ev := <-other.C:
		t.Fatalf("subscriber of another topic got %+v", ev)
	default:
	}
}

func TestSlowSubscriberIsDroppedWithoutBlockingOthers(t *testing.T) {
	b := New()
	slow := b.Subscribe("t", 1)
	fast := b.Subscribe("t", 8)
	for i := 0; i < 3; i++ {
		b.Publish("t", concierge.Event{ConversationID: int64(i)})
	}
	if got := len(fast.C); got != 3 {
		t.Fatalf("fast subscriber holds %d events, want 3", got)
	}
	<-slow.C // the one event that fit
	if _, ok := <-slow.C; ok {
		t.Fatal("slow subscriber's channel still open after overflow, want it closed")
	}
	if b.Drops() != 1 || b.Subscribers("t") != 1 {
		t.Fatalf("drops=%d subscribers=%d, want 1 and 1", b.Drops(), b.Subscribers("t"))
	}
	slow.Close() // closing again after a drop must not panic
}

func TestListenCallsBackUntilCancelled(t *testing.T) {
	b := New()
	var got []int64
	cancel := b.Listen("t", func(ev concierge.Event) { got = append(got, ev.ConversationID) })
	b.Publish("t", concierge.Event{ConversationID: 1})
	b.Publish("other", concierge.Event{ConversationID: 9})
	b.Publish("t", concierge.Event{ConversationID: 2})
	cancel()
	cancel() // a second cancel is harmless
	b.Publish("t", concierge.Event{ConversationID: 3})
	if len(got) != 2 || got[0] != 1 || got[1] != 2 {
		t.Fatalf("listener saw %v, want [1 2]: events of its topic until cancelled, in order", got)
	}
	if n := b.Subscribers("t"); n != 0 {
		t.Fatalf("%d subscribers left after cancel, want 0", n)
	}
}
