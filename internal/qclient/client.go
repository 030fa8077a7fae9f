// Package qclient is a small Go client of the Hub protocol, for qun's tests,
// examples' bots and the load generator. It is not a public SDK: browsers use
// the JavaScript SDK the Hub serves.
package qclient

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"sync/atomic"

	"github.com/coder/websocket"
	"github.com/qunkit/qun"
)

// Frame is one server frame, decoded.
type Frame struct {
	T     string          `json:"t"` // res, ev, push, sub.end
	ID    uint64          `json:"id,omitempty"`
	OK    json.RawMessage `json:"ok,omitempty"`
	Err   *qun.Error      `json:"err,omitempty"`
	Room  qun.RoomID      `json:"room,omitempty"`
	Seq   uint64          `json:"seq,omitempty"`
	Type  string          `json:"type,omitempty"`
	Actor qun.UserID      `json:"actor,omitempty"`
	TS    int64           `json:"ts,omitempty"`
	D     json.RawMessage `json:"d,omitempty"`
}

// Options tune a Client.
type Options struct {
	// Origin is sent as the Origin header (browsers always send one).
	Origin string
	// Buffer is the capacity of the Frames channel. Zero means 4096.
	Buffer int
	// OnFrame, if set, receives every non-reply frame's raw bytes instead of
	// the Frames channel (the load generator avoids decoding this way).
	OnFrame func(raw []byte)
	// ReadLimit bounds one incoming message. Zero means 16 MiB.
	ReadLimit int64
}

// Client is one connection to a Hub.
type Client struct {
	conn    *websocket.Conn
	opts    Options
	nextID  atomic.Uint64
	mu      sync.Mutex
	waiting map[uint64]chan Frame
	frames  chan Frame
	done    chan struct{}
	err     error // set before done closes
}

// Dial connects to the Hub at url (ws://...) without authenticating.
func Dial(ctx context.Context, url string, opts Options) (*Client, error) {
	h := http.Header{}
	if opts.Origin != "" {
		h.Set("Origin", opts.Origin)
	}
	conn, _, err := websocket.Dial(ctx, url, &websocket.DialOptions{HTTPHeader: h, CompressionMode: websocket.CompressionDisabled})
	if err != nil {
		return nil, err
	}
	if opts.Buffer <= 0 {
		opts.Buffer = 4096
	}
	if opts.ReadLimit <= 0 {
		opts.ReadLimit = 16 << 20
	}
	conn.SetReadLimit(opts.ReadLimit)
	c := &Client{conn: conn, opts: opts, waiting: map[uint64]chan Frame{}, frames: make(chan Frame, opts.Buffer), done: make(chan struct{})}
	go c.read()
	return c, nil
}

// Connect dials and says hello with token.
func Connect(ctx context.Context, url, token string, opts Options) (*Client, error) {
	c, err := Dial(ctx, url, opts)
	if err != nil {
		return nil, err
	}
	if err := c.Call(ctx, "hello", map[string]any{"v": qun.ProtocolVersion, "token": token}, nil); err != nil {
		c.Close()
		return nil, err
	}
	return c, nil
}

// Frames delivers events, pushes and sub.end frames in arrival order.
// It is closed when the connection ends.
func (c *Client) Frames() <-chan Frame { return c.frames }

// Done is closed when the connection has ended; Err then says why.
func (c *Client) Done() <-chan struct{} { return c.done }

// Err is the reason the connection ended (a websocket.CloseError for a close frame).
func (c *Client) Err() error {
	<-c.done
	return c.err
}

// CloseReason returns the close frame's reason (the qun error code) once
// the connection has ended, or "".
func (c *Client) CloseReason() string {
	var ce websocket.CloseError
	if errors.As(c.Err(), &ce) {
		return ce.Reason
	}
	return ""
}

// Call sends op with data and waits for its reply. A server error is
// returned as *qun.Error; out (if not nil) receives the result.
func (c *Client) Call(ctx context.Context, op string, data any, out any) error {
	id := c.nextID.Add(1)
	ch := make(chan Frame, 1)
	c.mu.Lock()
	c.waiting[id] = ch
	c.mu.Unlock()
	defer func() {
		c.mu.Lock()
		delete(c.waiting, id)
		c.mu.Unlock()
	}()
	d, err := json.Marshal(data)
	if err != nil {
		return err
	}
	frame, _ := json.Marshal(struct {
		ID uint64          `json:"id"`
		Op string          `json:"op"`
		D  json.RawMessage `json:"d"`
	}{id, op, d})
	if err := c.conn.Write(ctx, websocket.MessageText, frame); err != nil {
		return err
	}
	select {
	case f := <-ch:
		if f.Err != nil {
			return f.Err
		}
		if out != nil {
			return json.Unmarshal(f.OK, out)
		}
		return nil
	case <-c.done:
		// The reply may have arrived just before the close frame.
		select {
		case f := <-ch:
			if f.Err != nil {
				return f.Err
			}
			if out != nil {
				return json.Unmarshal(f.OK, out)
			}
			return nil
		default:
		}
		return fmt.Errorf("connection ended: %w", c.err)
	case <-ctx.Done():
		return ctx.Err()
	}
}

// SendRaw writes one raw text message, for tests of malformed input.
func (c *Client) SendRaw(ctx context.Context, msg []byte) error {
	return c.conn.Write(ctx, websocket.MessageText, msg)
}

// Close closes the connection and waits for the reader to stop.
func (c *Client) Close() error {
	err := c.conn.Close(websocket.StatusNormalClosure, "")
	<-c.done
	return err
}

func (c *Client) read() {
	defer close(c.done)
	defer close(c.frames)
	for {
		_, msg, err := c.conn.Read(context.Background())
		if err != nil {
			c.err = err
			return
		}
		for len(msg) > 0 {
			line := msg
			if i := bytes.IndexByte(msg, '\n'); i >= 0 {
				line, msg = msg[:i], msg[i+1:]
			} else {
				msg = nil
			}
			c.dispatch(line)
		}
	}
}

var resPrefix = []byte(`{"t":"res"`)

func (c *Client) dispatch(line []byte) {
	if c.opts.OnFrame != nil && !bytes.HasPrefix(line, resPrefix) {
		c.opts.OnFrame(line)
		return
	}
	var f Frame
	if err := json.Unmarshal(line, &f); err != nil {
		c.err = fmt.Errorf("bad frame %q: %w", line, err)
		return
	}
	if f.T == "res" {
		c.mu.Lock()
		ch := c.waiting[f.ID]
		c.mu.Unlock()
		if ch != nil {
			ch <- f
			return
		}
		// A reply nobody waits for (raw frames, id 0): hand it to Frames.
	}
	c.frames <- f
}
