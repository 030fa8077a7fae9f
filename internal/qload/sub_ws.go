package qload

import (
	"bytes"
	"context"
	"errors"
	"io"
	"sync"
	"time"

	"github.com/coder/websocket"
)

// startWS connects the subscribers with github.com/coder/websocket, one
// reading goroutine each.
func (s *Subscribers) startWS(ctx context.Context, cfg SubConfig) error {
	conns := make([]*websocket.Conn, cfg.N)
	var wg sync.WaitGroup
	s.stop = func() {
		for _, c := range conns {
			if c != nil {
				c.CloseNow()
			}
		}
		wg.Wait()
	}
	err := dialAll(ctx, cfg, func(ctx context.Context, i int) error {
		conn, err := s.connectWS(ctx, cfg, i)
		if err != nil {
			return err
		}
		conns[i] = conn
		wg.Add(1)
		go func() {
			defer wg.Done()
			s.readWS(s.subs[i], conn)
		}()
		return nil
	})
	if err != nil {
		s.Close()
	}
	return err
}

func (s *Subscribers) connectWS(ctx context.Context, cfg SubConfig, i int) (*websocket.Conn, error) {
	tok, err := cfg.Token(i)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	conn, _, err := websocket.Dial(ctx, cfg.URL, &websocket.DialOptions{HTTPHeader: cfg.Header, CompressionMode: websocket.CompressionDisabled})
	if err != nil {
		return nil, err
	}
	conn.SetReadLimit(1 << 20)
	fail := func(err error) (*websocket.Conn, error) {
		conn.CloseNow()
		return nil, err
	}
	if err := conn.Write(ctx, websocket.MessageText, helloFrame(tok)); err != nil {
		return fail(err)
	}
	if _, msg, err := conn.Read(ctx); err != nil {
		return fail(err)
	} else if !bytes.Contains(msg, okKey) {
		return fail(errors.New("hello: " + string(msg)))
	}
	if err := conn.Write(ctx, websocket.MessageText, subFrame(cfg.Room)); err != nil {
		return fail(err)
	}
	// The reply may share its message with the first events.
	_, msg, err := conn.Read(ctx)
	if err != nil {
		return fail(err)
	}
	now := time.Now().UnixNano()
	reply, rest, _ := bytes.Cut(msg, []byte{'\n'})
	if err := subReply(s.subs[i], reply); err != nil {
		return fail(err)
	}
	for len(rest) > 0 {
		var line []byte
		line, rest, _ = bytes.Cut(rest, []byte{'\n'})
		s.line(s.subs[i], line, now)
	}
	return conn, nil
}

// readWS counts c's events until its connection ends. Lines are parsed
// from a small fixed buffer.
func (s *Subscribers) readWS(c *sub, conn *websocket.Conn) {
	buf := make([]byte, 2048)
	for {
		_, r, err := conn.Reader(context.Background())
		if err != nil {
			s.ended(c, wsReason(err))
			return
		}
		now := time.Now().UnixNano()
		n, skipping := 0, false
		for {
			m, rerr := r.Read(buf[n:])
			n += m
			start := 0
			for {
				i := bytes.IndexByte(buf[start:n], '\n')
				if i < 0 {
					break
				}
				if !skipping {
					s.line(c, buf[start:start+i], now)
				}
				skipping = false
				start += i + 1
			}
			n = copy(buf, buf[start:n])
			if rerr == io.EOF {
				if n > 0 && !skipping {
					s.line(c, buf[:n], now)
				}
				break
			}
			if rerr != nil {
				s.ended(c, wsReason(rerr))
				return
			}
			if n == len(buf) { // a line longer than any bench event: skip it
				n, skipping = 0, true
			}
		}
	}
}

func wsReason(err error) string {
	var ce websocket.CloseError
	switch {
	case errors.As(err, &ce):
		if ce.Reason != "" {
			return ce.Reason
		}
		return ce.Code.String()
	case errors.Is(err, io.EOF):
		return "eof"
	}
	return "error"
}
