package qun

import (
	"bytes"
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
)

// tcpPair returns the two ends of a loopback TCP connection.
func tcpPair(t *testing.T) (net.Conn, net.Conn) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	accepted := make(chan net.Conn, 1)
	go func() {
		c, _ := ln.Accept()
		accepted <- c
	}()
	a, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	b := <-accepted
	if b == nil {
		t.Fatal("accept failed")
	}
	t.Cleanup(func() { a.Close(); b.Close() })
	return a, b
}

// TestOutConnCork: while corked, writes (small ones copied, since the
// writer's buffer is reused, large ones referenced) reach the peer only at
// uncork, whole and in order; uncorked writes go straight out.
func TestOutConnCork(t *testing.T) {
	a, b := tcpPair(t)
	out := &outConn{Conn: a}
	scratch := make([]byte, connWriteBuffer)
	small := func(s string) { // as bufio does: its own buffer, reused after
		n := copy(scratch, s)
		if _, err := out.Write(scratch[:n]); err != nil {
			t.Fatal(err)
		}
		copy(scratch, strings.Repeat("#", len(scratch)))
	}
	large := strings.Repeat("L", 3*connWriteBuffer)
	out.cork()
	small("h1")
	small("h2")
	if _, err := out.Write([]byte(large)); err != nil {
		t.Fatal(err)
	}
	small("t1")
	_ = b.SetReadDeadline(time.Now().Add(50 * time.Millisecond))
	if n, _ := b.Read(make([]byte, 1)); n != 0 {
		t.Fatal("corked bytes went out")
	}
	if err := out.uncork(); err != nil {
		t.Fatal(err)
	}
	if _, err := out.Write([]byte("u1")); err != nil { // uncorked
		t.Fatal(err)
	}
	want := "h1h2" + large + "t1u1"
	got := make([]byte, len(want))
	_ = b.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.ReadFull(b, got); err != nil {
		t.Fatal(err)
	}
	if string(got) != want {
		t.Fatalf("peer got %q", got)
	}
	if len(out.bufs) != 0 || len(out.small) != 0 {
		t.Fatal("uncork kept buffers")
	}
}

// TestHijackSmallKeepsEarlyBytes: a client may send its first WebSocket
// message in the same packet as the handshake; bytes net/http had already
// buffered must reach the WebSocket library through the small buffers.
func TestHijackSmallKeepsEarlyBytes(t *testing.T) {
	got := make(chan string, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		out := &outConn{}
		conn, err := websocket.Accept(hijackSmall(w, out), r, nil)
		if err != nil {
			got <- "accept: " + err.Error()
			return
		}
		defer conn.CloseNow()
		_, msg, err := conn.Read(context.Background())
		if err != nil {
			got <- "read: " + err.Error()
			return
		}
		got <- string(msg)
		// A write through the corked path reaches the client.
		out.cork()
		err = conn.Write(context.Background(), websocket.MessageText, bytes.Repeat([]byte("x"), 4*connWriteBuffer))
		if uerr := out.uncork(); err == nil {
			err = uerr
		}
		if err != nil {
			got <- "write: " + err.Error()
		}
		_, _, _ = conn.Read(context.Background()) // until the client closes
	}))
	defer srv.Close()
	c, err := net.Dial("tcp", strings.TrimPrefix(srv.URL, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	// Handshake and a masked text frame "hello" in one write.
	payload, mask := []byte("hello"), []byte{1, 2, 3, 4}
	frame := []byte{0x81, 0x80 | byte(len(payload))}
	frame = append(frame, mask...)
	for i, x := range payload {
		frame = append(frame, x^mask[i%4])
	}
	req := "GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
		"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
	if _, err := c.Write(append([]byte(req), frame...)); err != nil {
		t.Fatal(err)
	}
	select {
	case msg := <-got:
		if msg != "hello" {
			t.Fatalf("server read %q", msg)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("server read nothing")
	}
	// Response headers, then a 2048-byte text frame (126 + 16-bit length).
	_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
	all := make([]byte, 0, 4096)
	buf := make([]byte, 4096)
	for {
		n, err := c.Read(buf)
		all = append(all, buf[:n]...)
		if i := bytes.Index(all, []byte("\r\n\r\n")); i >= 0 && len(all)-i-4 >= 4+4*connWriteBuffer {
			body := all[i+4:]
			if body[0] != 0x81 || body[1] != 126 || int(body[2])<<8|int(body[3]) != 4*connWriteBuffer ||
				!bytes.Equal(body[4:], bytes.Repeat([]byte("x"), 4*connWriteBuffer)) {
				t.Fatalf("bad frame % x", body[:8])
			}
			break
		}
		if err != nil {
			t.Fatalf("read: %v (got %d bytes)", err, len(all))
		}
	}
	select {
	case msg := <-got:
		t.Fatal(msg)
	default:
	}
}
