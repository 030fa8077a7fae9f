package qun

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"io"
	"net"
	"net/http"
	"sync"
)

// The WebSocket connection's socket.
//
// Memory: net/http hands a hijacked connection over with 4 KiB read and
// write buffers, which would be most of what an idle connection costs. The
// Hub gives the WebSocket library small buffers instead (hijackSmall): the
// read buffer only has to hold small ops, larger ones are read straight
// through, and the write buffer only ever sees control frames (ping, pong,
// close), because data frames do not go through the library at all.
//
// Speed: the session writes each outgoing message as one unmasked text frame
// with one writev of header and payload (outConn.writeText). The library's
// own write path costs a fifth of the fan-out's CPU (channel-based locks, a
// header written byte by byte into the buffer, two syscalls for a message
// larger than the buffer). The library's control frames cannot interleave
// with a data frame: each goes to the socket in one Write, and the socket
// serialises whole Write calls. Close stops data frames (endData) before the
// library writes the close frame, after which the protocol allows none.
const (
	connReadBuffer  = 512 // client messages are small ops; larger ones read straight through
	connWriteBuffer = 256 // the largest control frame is 127 bytes
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
	_, h.out.vectored = conn.(*net.TCPConn)
	var r *bufio.Reader
	if n := brw.Reader.Buffered(); n > 0 {
		// The client already sent more: keep it buffered, where the WebSocket
		// library looks for it.
		pending, _ := brw.Reader.Peek(n)
		r = bufio.NewReaderSize(io.MultiReader(bytes.NewReader(bytes.Clone(pending)), conn), max(connReadBuffer, n))
		if _, err := r.Peek(n); err != nil {
			conn.Close()
			return nil, nil, err
		}
	} else {
		r = bufio.NewReaderSize(conn, connReadBuffer)
	}
	return h.out, bufio.NewReadWriter(r, bufio.NewWriterSize(h.out, connWriteBuffer)), nil
}

// outConn is the hijacked connection, through which the WebSocket library
// reads and writes its control frames, and the session its data frames.
type outConn struct {
	net.Conn
	vectored bool // the socket takes writev (a TCP connection, not TLS)

	mu       sync.Mutex
	dataDone bool // the close frame may follow: no more data frames
	hdr      [10]byte
	iov      [2][]byte
	bufs     net.Buffers // iov while it is written: WriteTo needs an addressable Buffers
}

// writeText writes p as one unmasked, final text frame.
func (c *outConn) writeText(p []byte) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.dataDone {
		return net.ErrClosed
	}
	h := append(c.hdr[:0], 0x81)
	switch n := len(p); {
	case n < 126:
		h = append(h, byte(n))
	case n < 1<<16:
		h = binary.BigEndian.AppendUint16(append(h, 126), uint16(n))
	default:
		h = binary.BigEndian.AppendUint64(append(h, 127), uint64(n))
	}
	if !c.vectored {
		// One Write, so that a TLS connection sends one record.
		bp := batchBufs.Get().(*[]byte)
		b := append(append((*bp)[:0], h...), p...)
		_, err := c.Conn.Write(b)
		*bp = b
		batchBufs.Put(bp)
		return err
	}
	c.iov = [2][]byte{h, p}
	c.bufs = c.iov[:]
	_, err := c.bufs.WriteTo(c.Conn) // one writev
	c.iov, c.bufs = [2][]byte{}, nil
	return err
}

// endData stops data frames: after it returns none is being written and
// none will be.
func (c *outConn) endData() {
	c.mu.Lock()
	c.dataDone = true
	c.mu.Unlock()
}
