package qun

import (
	"bufio"
	"bytes"
	"io"
	"net"
	"net/http"
	"sync"
)

// Buffers of a WebSocket connection. net/http hands a hijacked connection
// over with 4 KiB read and write buffers, and keeps its own request state
// while the handler runs: with an idle connection costing little else, that
// would be most of its memory. The Hub instead gives the WebSocket library
// small buffers of its own (hijackSmall), and lets the net/http handler
// return.
//
// A small write buffer would cost a second syscall for every message larger
// than it (the library writes a frame's header, then its payload), so the
// session corks the connection around each write and sends what the library
// wrote with one writev.
const (
	connReadBuffer  = 512 // client messages are small ops; larger ones read straight through
	connWriteBuffer = 512 // control frames and single events; larger data goes out through outConn's cork
)

// hijackSmall wraps w so that hijacking it yields out as the connection,
// with small buffers.
func hijackSmall(w http.ResponseWriter, out *outConn) http.ResponseWriter {
	return &smallHijacker{ResponseWriter: w, out: out}
}

type smallHijacker struct {
	http.ResponseWriter
	out *outConn
}

func (h *smallHijacker) Unwrap() http.ResponseWriter { return h.ResponseWriter }

func (h *smallHijacker) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	conn, brw, err := http.NewResponseController(h.ResponseWriter).Hijack()
	if err != nil {
		return nil, nil, err
	}
	h.out.Conn = conn
	var r *bufio.Reader
	if n := brw.Reader.Buffered(); n > 0 {
		// The client already sent more: keep it buffered, where the WebSocket
		// library looks for it.
		pending, _ := brw.Reader.Peek(n)
		r = bufio.NewReaderSize(io.MultiReader(bytes.NewReader(bytes.Clone(pending)), h.out), max(connReadBuffer, n))
		if _, err := r.Peek(n); err != nil {
			conn.Close()
			return nil, nil, err
		}
	} else {
		r = bufio.NewReaderSize(h.out, connReadBuffer)
	}
	return h.out, bufio.NewReadWriter(r, bufio.NewWriterSize(h.out, connWriteBuffer)), nil
}

// outConn is the hijacked connection as the WebSocket library sees it.
// While corked, writes collect instead of going out; uncork sends them
// together.
type outConn struct {
	net.Conn

	mu        sync.Mutex
	corked    bool
	bufs      net.Buffers // what collected while corked
	lastSmall bool        // bufs' last element is the end of small
	small     []byte      // copies of small writes: the library's buffer is reused once Write returns
	out       net.Buffers // bufs while uncork writes them (a field: WriteTo needs an addressable value)
}

func (c *outConn) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.corked {
		return c.Conn.Write(p)
	}
	if len(p) > connWriteBuffer {
		// Larger than the library's buffer: written straight from the
		// caller's message, which outlives uncork.
		c.bufs, c.lastSmall = append(c.bufs, p), false
		return len(p), nil
	}
	start, room := len(c.small), cap(c.small)-len(c.small)
	c.small = append(c.small, p...)
	if n := len(c.bufs); n > 0 && c.lastSmall && room >= len(p) {
		last := c.bufs[n-1]
		c.bufs[n-1] = last[:len(last)+len(p)] // contiguous in small
	} else {
		c.bufs, c.lastSmall = append(c.bufs, c.small[start:len(c.small):cap(c.small)]), true
	}
	return len(p), nil
}

func (c *outConn) cork() {
	c.mu.Lock()
	c.corked = true
	c.mu.Unlock()
}

// uncork writes what collected while corked, in one writev.
func (c *outConn) uncork() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.corked = false
	if len(c.bufs) == 0 {
		return nil
	}
	var err error
	if len(c.bufs) == 1 {
		_, err = c.Conn.Write(c.bufs[0])
	} else {
		c.out = c.bufs
		_, err = c.out.WriteTo(c.Conn)
		c.out = nil
	}
	clear(c.bufs)
	c.bufs, c.small, c.lastSmall = c.bufs[:0], c.small[:0], false
	if cap(c.small) > 4*connWriteBuffer {
		c.small = nil
	}
	return err
}
