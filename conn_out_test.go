package qun

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
)

// TestOutConnFrames: data frames written straight to the socket, of each
// length encoding, over TCP (writev) and over a connection without writev,
// reach a WebSocket client whole and in order while the library writes its
// own control frames (pings) on the same connection; after endData no data
// frame goes out.
func TestOutConnFrames(t *testing.T) {
	sizes := []int{0, 1, 125, 126, 1000, 65535, 65536, 200_000}
	for _, vectored := range []bool{true, false} {
		t.Run(fmt.Sprintf("vectored=%v", vectored), func(t *testing.T) {
			done := make(chan error, 1)
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				out := &outConn{}
				conn, err := websocket.Accept(hijackSmall(w, out), r, nil)
				if err != nil {
					done <- err
					return
				}
				defer conn.CloseNow()
				if out.vectored != vectored {
					out.vectored = vectored // exercise the other path too
				}
				ctx, cancel := context.WithCancel(context.Background())
				defer cancel()
				go func() { _, _, _ = conn.Read(ctx) }() // reads the pongs
				pings := make(chan error, 1)
				go func() {
					var err error
					for i := 0; i < 20 && err == nil; i++ {
						err = conn.Ping(ctx)
					}
					pings <- err
				}()
				for round := range 20 {
					for _, n := range sizes {
						if err := out.writeText(bytes.Repeat([]byte{byte('a' + round)}, n)); err != nil {
							done <- err
							return
						}
					}
				}
				if err := <-pings; err != nil {
					done <- fmt.Errorf("ping: %w", err)
					return
				}
				out.endData()
				if err := out.writeText([]byte("late")); !errors.Is(err, net.ErrClosed) {
					done <- fmt.Errorf("write after endData: %v", err)
					return
				}
				done <- conn.Close(websocket.StatusNormalClosure, "")
			}))
			defer srv.Close()
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			c, _, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(srv.URL, "http"), nil)
			if err != nil {
				t.Fatal(err)
			}
			defer c.CloseNow()
			c.SetReadLimit(1 << 20)
			for round := range 20 {
				for _, n := range sizes {
					typ, msg, err := c.Read(ctx)
					if err != nil {
						t.Fatalf("round %d size %d: %v", round, n, err)
					}
					if typ != websocket.MessageText || !bytes.Equal(msg, bytes.Repeat([]byte{byte('a' + round)}, n)) {
						t.Fatalf("round %d size %d: got %d bytes", round, n, len(msg))
					}
				}
			}
			if _, _, err := c.Read(ctx); websocket.CloseStatus(err) != websocket.StatusNormalClosure {
				t.Fatalf("after the data: %v", err)
			}
			if err := <-done; err != nil {
				t.Fatal(err)
			}
		})
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
		// A data frame written straight to the socket reaches the client.
		if err := out.writeText(bytes.Repeat([]byte("x"), 4*connWriteBuffer)); err != nil {
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
