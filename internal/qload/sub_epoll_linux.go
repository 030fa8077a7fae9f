//go:build linux

package qload

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha1"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"net/url"
	"runtime"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

const haveEpoll = true

// startEpoll connects the subscribers over plain TCP with a minimal
// WebSocket client, then hands their sockets to GOMAXPROCS epoll loops:
// one read per ready socket and no goroutine wake-up per message, so the
// load generator takes as little as possible of the CPU it shares with the
// server it measures.
func (s *Subscribers) startEpoll(ctx context.Context, cfg SubConfig) error {
	u, err := url.Parse(cfg.URL)
	if err != nil {
		return err
	}
	loops := make([]*epollLoop, runtime.GOMAXPROCS(0))
	raw := make([]atomic.Pointer[rawConn], cfg.N)
	var wg sync.WaitGroup
	for i := range loops {
		fd, err := syscall.EpollCreate1(syscall.EPOLL_CLOEXEC)
		if err != nil {
			for _, l := range loops[:i] {
				syscall.Close(l.epfd)
			}
			return err
		}
		loops[i] = &epollLoop{epfd: fd, raw: raw}
		wg.Add(1)
		go func() {
			defer wg.Done()
			loops[i].run()
		}()
	}
	s.stop = func() {
		for _, l := range loops {
			l.stopped.Store(true)
		}
		wg.Wait()
		for i := range raw {
			if c := raw[i].Load(); c != nil && !c.done {
				syscall.Close(c.fd)
			}
		}
		for _, l := range loops {
			syscall.Close(l.epfd)
		}
	}
	err = dialAll(ctx, cfg, func(ctx context.Context, i int) error {
		c, err := s.connectRaw(ctx, cfg, u, i)
		if err != nil {
			return err
		}
		raw[i].Store(c)
		ev := syscall.EpollEvent{Events: syscall.EPOLLIN | syscall.EPOLLRDHUP, Fd: int32(i)}
		if err := syscall.EpollCtl(loops[i%len(loops)].epfd, syscall.EPOLL_CTL_ADD, c.fd, &ev); err != nil {
			return fmt.Errorf("epoll add: %w", err)
		}
		return nil
	})
	if err != nil {
		s.Close()
	}
	return err
}

type epollLoop struct {
	epfd    int
	raw     []atomic.Pointer[rawConn]
	stopped atomic.Bool
}

func (l *epollLoop) run() {
	events := make([]syscall.EpollEvent, 512)
	buf := make([]byte, 64<<10)
	for !l.stopped.Load() {
		n, err := syscall.EpollWait(l.epfd, events, 100)
		if err != nil {
			continue // EINTR
		}
		now := time.Now().UnixNano()
		for _, ev := range events[:n] {
			c := l.raw[ev.Fd].Load()
			if c == nil || c.done {
				continue
			}
			for {
				m, err := syscall.Read(c.fd, buf)
				if m > 0 {
					c.feed(buf[:m], now)
				}
				switch {
				case c.done:
				case m == len(buf):
					continue
				case err == syscall.EAGAIN || err == syscall.EINTR:
				case err != nil:
					c.end("error")
				case m == 0:
					c.end("eof")
				}
				break
			}
		}
	}
}

// rawConn is one subscriber's socket and the state of its WebSocket frame
// and line parsing, owned by one epoll loop (or by the dialer before).
type rawConn struct {
	s    *Subscribers
	sub  *sub
	fd   int
	nc   net.Conn // during the handshake only
	done bool

	stage    int // 0: awaiting hello's reply, 1: sub's, 2: streaming
	stageErr error
	subMsg   []byte

	hdr      [14]byte
	hdrN     int
	inFrame  bool
	fin      bool
	op       byte
	remain   uint64
	ctl      []byte // control frame payload
	line     []byte // a line split across reads
	skipping bool   // the current line is too long to be an event: ignore it
}

const maxLine = 4096

func (s *Subscribers) connectRaw(ctx context.Context, cfg SubConfig, u *url.URL, i int) (*rawConn, error) {
	tok, err := cfg.Token(i)
	if err != nil {
		return nil, err
	}
	nc, err := (&net.Dialer{Timeout: 30 * time.Second}).DialContext(ctx, "tcp", u.Host)
	if err != nil {
		return nil, err
	}
	defer nc.Close() // the epoll loop keeps a duplicate of the socket
	_ = nc.SetDeadline(time.Now().Add(30 * time.Second))
	var key [16]byte
	_, _ = rand.Read(key[:])
	k := base64.StdEncoding.EncodeToString(key[:])
	req := fmt.Appendf(nil, "GET %s HTTP/1.1\r\nHost: %s\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\n",
		u.RequestURI(), u.Host, k)
	for name, vs := range cfg.Header {
		for _, v := range vs {
			req = fmt.Appendf(req, "%s: %s\r\n", name, v)
		}
	}
	req = append(req, "\r\n"...)
	if _, err := nc.Write(req); err != nil {
		return nil, err
	}
	buf := make([]byte, 4096)
	n := 0
	end := -1
	for end < 0 {
		if n == len(buf) {
			return nil, errors.New("handshake response too long")
		}
		m, err := nc.Read(buf[n:])
		if err != nil {
			return nil, fmt.Errorf("handshake: %w", err)
		}
		n += m
		end = bytes.Index(buf[:n], []byte("\r\n\r\n"))
	}
	head := buf[:end]
	sum := sha1.Sum([]byte(k + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"))
	if !bytes.HasPrefix(head, []byte("HTTP/1.1 101 ")) || !bytes.Contains(head, []byte(base64.StdEncoding.EncodeToString(sum[:]))) {
		return nil, fmt.Errorf("handshake: %s", firstLine(head))
	}
	c := &rawConn{s: s, sub: s.subs[i], nc: nc, subMsg: subFrame(cfg.Room)}
	if err := c.writeFrame(0x1, helloFrame(tok)); err != nil {
		return nil, err
	}
	c.feed(buf[end+4:n], time.Now().UnixNano())
	for c.stage < 2 && c.stageErr == nil && !c.done {
		m, err := nc.Read(buf)
		if err != nil {
			return nil, err
		}
		c.feed(buf[:m], time.Now().UnixNano())
	}
	if c.stageErr != nil {
		return nil, c.stageErr
	}
	if c.done {
		return nil, errors.New("connection ended during hello")
	}
	sc, err := nc.(*net.TCPConn).SyscallConn()
	if err != nil {
		return nil, err
	}
	var dupErr error
	if err := sc.Control(func(fd uintptr) { c.fd, dupErr = syscall.Dup(int(fd)) }); err != nil {
		return nil, err
	}
	if dupErr != nil {
		return nil, dupErr
	}
	syscall.CloseOnExec(c.fd)
	c.nc = nil
	return c, nil
}

func firstLine(b []byte) string {
	l, _, _ := bytes.Cut(b, []byte("\r\n"))
	return string(l)
}

// writeFrame writes one masked client frame.
func (c *rawConn) writeFrame(op byte, p []byte) error {
	b := make([]byte, 0, 14+len(p))
	b = append(b, 0x80|op)
	switch {
	case len(p) < 126:
		b = append(b, 0x80|byte(len(p)))
	case len(p) < 1<<16:
		b = append(b, 0x80|126)
		b = binary.BigEndian.AppendUint16(b, uint16(len(p)))
	default:
		b = append(b, 0x80|127)
		b = binary.BigEndian.AppendUint64(b, uint64(len(p)))
	}
	var mask [4]byte
	_, _ = rand.Read(mask[:])
	b = append(b, mask[:]...)
	for i, x := range p {
		b = append(b, x^mask[i&3])
	}
	if c.nc != nil {
		_, err := c.nc.Write(b)
		return err
	}
	for len(b) > 0 {
		n, err := syscall.Write(c.fd, b)
		if err == syscall.EAGAIN || err == syscall.EINTR {
			time.Sleep(time.Millisecond) // the send buffer is full: rare for a subscriber
			continue
		}
		if err != nil {
			return err
		}
		b = b[n:]
	}
	return nil
}

// feed parses received bytes: frame headers, then payloads split in lines.
func (c *rawConn) feed(p []byte, now int64) {
	for len(p) > 0 && !c.done {
		if !c.inFrame {
			need := 2
			if c.hdrN >= 2 {
				switch c.hdr[1] & 0x7f {
				case 126:
					need += 2
				case 127:
					need += 8
				}
				if c.hdr[1]&0x80 != 0 {
					need += 4
				}
			}
			k := copy(c.hdr[c.hdrN:need], p)
			c.hdrN += k
			p = p[k:]
			if c.hdrN < need {
				continue
			}
			if need == 2 && (c.hdr[1]&0x7f >= 126 || c.hdr[1]&0x80 != 0) {
				continue // the extended length follows
			}
			c.fin, c.op = c.hdr[0]&0x80 != 0, c.hdr[0]&0x0f
			switch l := c.hdr[1] & 0x7f; l {
			case 126:
				c.remain = uint64(binary.BigEndian.Uint16(c.hdr[2:]))
			case 127:
				c.remain = binary.BigEndian.Uint64(c.hdr[2:])
			default:
				c.remain = uint64(l)
			}
			if c.hdr[1]&0x80 != 0 {
				c.end("masked frame from server")
				return
			}
			c.hdrN, c.inFrame = 0, true
			if c.remain == 0 {
				c.frameDone(now)
			}
			continue
		}
		k := int(min(c.remain, uint64(len(p))))
		chunk := p[:k]
		p, c.remain = p[k:], c.remain-uint64(k)
		if c.op >= 8 {
			c.ctl = append(c.ctl, chunk...)
		} else {
			c.data(chunk, now)
		}
		if c.remain == 0 {
			c.frameDone(now)
		}
	}
}

func (c *rawConn) data(b []byte, now int64) {
	for len(b) > 0 {
		i := bytes.IndexByte(b, '\n')
		if i < 0 {
			c.partial(b)
			return
		}
		if len(c.line) > 0 || c.skipping {
			c.partial(b[:i])
			if !c.skipping {
				c.emit(c.line, now)
			}
			c.line, c.skipping = c.line[:0], false
		} else {
			c.emit(b[:i], now)
		}
		b = b[i+1:]
	}
}

func (c *rawConn) partial(b []byte) {
	if c.skipping {
		return
	}
	if len(c.line)+len(b) > maxLine {
		c.line, c.skipping = c.line[:0], true
		return
	}
	c.line = append(c.line, b...)
}

func (c *rawConn) frameDone(now int64) {
	c.inFrame = false
	switch c.op {
	case 0x8: // close: status code, then the qun error code as reason
		reason := "closed"
		if len(c.ctl) > 2 {
			reason = string(c.ctl[2:])
		}
		_ = c.writeFrame(0x8, c.ctl[:min(2, len(c.ctl))])
		c.end(reason)
	case 0x9:
		_ = c.writeFrame(0xA, c.ctl)
	case 0xA:
	default:
		if c.fin { // end of message: its last line has no newline
			if len(c.line) > 0 && !c.skipping {
				c.emit(c.line, now)
			}
			c.line, c.skipping = c.line[:0], false
		}
		return
	}
	c.ctl = c.ctl[:0]
}

func (c *rawConn) emit(line []byte, now int64) {
	switch c.stage {
	case 2:
		c.s.line(c.sub, line, now)
	case 0:
		if !bytes.HasPrefix(line, resPrefix) || !bytes.Contains(line, okKey) {
			c.stageErr = errors.New("hello: " + string(line))
			return
		}
		c.stage = 1
		if err := c.writeFrame(0x1, c.subMsg); err != nil {
			c.stageErr = err
		}
	case 1:
		if err := subReply(c.sub, line); err != nil {
			c.stageErr = err
			return
		}
		c.stage = 2
	}
}

// end marks the connection ended; the loop closes its socket.
func (c *rawConn) end(reason string) {
	if c.done {
		return
	}
	c.done = true
	if c.nc == nil {
		syscall.Close(c.fd)
	}
	c.s.ended(c.sub, reason)
}
