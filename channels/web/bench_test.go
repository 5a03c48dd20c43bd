package web

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/conciergehq/concierge"
)

// BenchmarkFanOut measures one message reaching N windows that follow the same
// conversation (a visitor's tabs, or the agent's echo): from Publish on the bus until
// every client has read the frame. Clients run in the same process, so the figure
// includes their reading.
func BenchmarkFanOut(b *testing.B) {
	for _, n := range []int{1, 10, 100, 1000} {
		b.Run(fmt.Sprintf("conns=%d", n), func(b *testing.B) {
			s := newTestServer(b, func(o *Options) { o.ConnectsPerIP = 1 << 20; o.SendQueue = 1024 })
			c, _ := s.connect(b, nil)
			c.say("m1", "hello")
			first := c.until(both())
			conv := first[0].ConversationID
			c.close()

			var received atomic.Int64
			var target atomic.Int64
			done := make(chan struct{}, 1)
			var wg sync.WaitGroup
			conns := make([]*websocket.Conn, n)
			for i := range conns {
				conns[i] = benchDial(b, s, map[string]any{"type": "hello", "token": c.token, "conversation_id": conv, "seq": 2})
				wg.Add(1)
				go func(ws *websocket.Conn) {
					defer wg.Done()
					for {
						if _, _, err := ws.ReadMessage(); err != nil {
							return
						}
						if received.Add(1) == target.Load() {
							done <- struct{}{}
						}
					}
				}(conns[i])
			}
			topic := concierge.ConversationTopic(conv)
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				seq := int64(3 + i)
				m := &concierge.Message{ID: seq, ConversationID: conv, Seq: seq, Sender: concierge.SenderAgent,
					SenderName: "Ana", Text: "Thanks for waiting, I am looking at your invoice now.", CreatedAt: time.Now()}
				target.Store(int64(n) * int64(i+1))
				s.bus.Publish(topic, concierge.Event{Kind: concierge.EventMessage, ConversationID: conv, Message: m})
				select {
				case <-done:
				case <-time.After(30 * time.Second):
					b.Fatalf("message %d reached %d of %d windows", i, received.Load()-int64(n*i), n)
				}
			}
			b.StopTimer()
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(n), "ns/delivery")
			for _, ws := range conns {
				ws.Close()
			}
			wg.Wait()
		})
	}
}

// benchDial opens a widget connection, says hello and reads until the server has sent
// everything it queued for the hello (a pong answers a ping sent after it).
func benchDial(b *testing.B, s *testServer, hello map[string]any) *websocket.Conn {
	b.Helper()
	h := http.Header{"Origin": {s.http.URL}}
	ws, _, err := websocket.DefaultDialer.Dial(s.wsURL, h)
	if err != nil {
		b.Fatal(err)
	}
	if err := ws.WriteJSON(hello); err != nil {
		b.Fatal(err)
	}
	if err := ws.WriteJSON(map[string]any{"type": "ping"}); err != nil {
		b.Fatal(err)
	}
	for {
		var f frame
		if err := ws.ReadJSON(&f); err != nil {
			b.Fatal(err)
		}
		if f.Type == "pong" {
			return ws
		}
	}
}

// BenchmarkIdleConnectionMemory measures what an idle widget connection costs the
// server: N visitors, each with a conversation, connect, resume, and stay idle. It
// reports Go heap and stack growth and the process's resident memory growth per
// connection. The clients are bare sockets that did the handshake by hand (no goroutine,
// no buffer), so nearly all of the growth is the server's. Target: ≤ 25 KB per
// connection. CONCIERGE_IDLE_CONNS sets N (default 5000). Run without -race.
func BenchmarkIdleConnectionMemory(b *testing.B) {
	n := 5000
	if v, err := strconv.Atoi(os.Getenv("CONCIERGE_IDLE_CONNS")); err == nil && v > 0 {
		n = v
	}
	s := newTestServer(b, func(o *Options) { o.ConnectsPerIP = 1 << 20; o.RatePerIP = 1 << 20 })
	s.gw.SetResponder(nil) // no bot: the conversations only need to exist
	ctx := context.Background()

	// Visitors with one message each, stored concurrently (group commit).
	tokens := make([]string, n)
	convs := make([]int64, n)
	var wg sync.WaitGroup
	errs := make(chan error, 1)
	next := atomic.Int64{}
	for w := 0; w < 32; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := int(next.Add(1) - 1); i < n; i = int(next.Add(1) - 1) {
				tokens[i] = s.ch.NewToken()
				rec, err := s.gw.Receive(ctx, concierge.Inbound{Channel: ChannelName, ContactID: VisitorKey(tokens[i]),
					MessageID: scopedID(VisitorKey(tokens[i]), "m1"), Text: "hello"})
				if err != nil {
					select {
					case errs <- err:
					default:
					}
					return
				}
				convs[i] = rec.Conversation.ID
			}
		}()
	}
	wg.Wait()
	select {
	case err := <-errs:
		b.Fatal(err)
	default:
	}

	addr := strings.TrimPrefix(s.http.URL, "http://")
	before := measure()
	b.ResetTimer()
	conns := make([]net.Conn, 0, n)
	for i := 0; i < n; i++ {
		c, err := rawWidgetConn(addr, tokens[i], convs[i])
		if err != nil {
			b.Fatalf("connection %d: %v", i, err)
		}
		conns = append(conns, c)
	}
	b.StopTimer()
	for s.ch.Connections() != n {
		runtime.Gosched()
	}
	after := measure()
	per := func(a, b uint64) float64 { return (float64(a) - float64(b)) / float64(n) }
	b.ReportMetric(per(after.heap, before.heap), "heapB/conn")
	b.ReportMetric(per(after.stack, before.stack), "stackB/conn")
	b.ReportMetric(per(after.heap+after.stack, before.heap+before.stack), "goB/conn")
	b.ReportMetric(per(after.rss, before.rss), "rssB/conn")
	b.ReportMetric(float64(after.goroutines-before.goroutines)/float64(n), "goroutines/conn")
	b.ReportMetric(float64(n), "conns")
	for _, c := range conns {
		c.Close()
	}
}

type memFigures struct {
	heap, stack, rss uint64
	goroutines       int
}

func measure() memFigures {
	for i := 0; i < 3; i++ {
		runtime.GC()
	}
	debug.FreeOSMemory()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return memFigures{heap: ms.HeapInuse, stack: ms.StackInuse, rss: rss(), goroutines: runtime.NumGoroutine()}
}

// rss reads the process's resident set size (Linux).
func rss() uint64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kb, _ := strconv.ParseUint(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			return kb << 10
		}
	}
	return 0
}

// rawWidgetConn does the WebSocket handshake and hello by hand and reads the welcome and
// the one stored message, leaving a socket and nothing else on the client side.
func rawWidgetConn(addr, token string, conv int64) (net.Conn, error) {
	c, err := net.Dial("tcp", addr)
	if err != nil {
		return nil, err
	}
	hello, _ := json.Marshal(map[string]any{"type": "hello", "token": token, "conversation_id": conv})
	// The hello goes after the 101: gorilla refuses data sent before the handshake ends.
	fmt.Fprintf(c, "GET /widget/ws HTTP/1.1\r\nHost: %s\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"+
		"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\nOrigin: http://%s\r\n\r\n", addr, addr)
	r := bufio.NewReader(c)
	status, err := r.ReadString('\n')
	if err != nil || !strings.Contains(status, " 101 ") {
		c.Close()
		return nil, fmt.Errorf("handshake: %q %v", status, err)
	}
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			c.Close()
			return nil, err
		}
		if line == "\r\n" {
			break
		}
	}
	var req bytes.Buffer
	req.WriteByte(0x81) // FIN, text
	switch {
	case len(hello) < 126:
		req.WriteByte(0x80 | byte(len(hello)))
	default:
		req.WriteByte(0x80 | 126)
		binary.Write(&req, binary.BigEndian, uint16(len(hello)))
	}
	req.Write([]byte{0, 0, 0, 0}) // a zero mask leaves the payload as it is
	req.Write(hello)
	if _, err := c.Write(req.Bytes()); err != nil {
		c.Close()
		return nil, err
	}
	for _, want := range []string{`"welcome"`, `"message"`} {
		payload, err := readFrame(r)
		if err != nil || !bytes.Contains(payload, []byte(want)) {
			c.Close()
			return nil, fmt.Errorf("want a %s frame, got %q (%v)", want, payload, err)
		}
	}
	return c, nil
}

func readFrame(r *bufio.Reader) ([]byte, error) {
	var h [2]byte
	if _, err := io.ReadFull(r, h[:]); err != nil {
		return nil, err
	}
	n := uint64(h[1] & 0x7f)
	switch n {
	case 126:
		var l uint16
		if err := binary.Read(r, binary.BigEndian, &l); err != nil {
			return nil, err
		}
		n = uint64(l)
	case 127:
		if err := binary.Read(r, binary.BigEndian, &n); err != nil {
			return nil, err
		}
	}
	p := make([]byte, n)
	_, err := io.ReadFull(r, p)
	return p, err
}
