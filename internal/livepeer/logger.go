package livepeer

import (
	"strings"
	"sync"
	"testing"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
)

// TestLogger logs to t at level and above until the test is over. pion
// logs from its own goroutines for a moment after a peer connection is
// closed; t.Log would panic then, so late lines are dropped.
func TestLogger(t testing.TB, level zapcore.Level) *zap.Logger {
	var mu sync.Mutex
	done := false
	t.Cleanup(func() { // registered first, so it runs after every other cleanup
		mu.Lock()
		done = true
		mu.Unlock()
	})
	w := zapcore.AddSync(writerFunc(func(p []byte) (int, error) {
		mu.Lock()
		defer mu.Unlock()
		if !done {
			t.Log(strings.TrimRight(string(p), "\n"))
		}
		return len(p), nil
	}))
	enc := zapcore.NewConsoleEncoder(zap.NewDevelopmentEncoderConfig())
	return zap.New(zapcore.NewCore(enc, w, level))
}

type writerFunc func([]byte) (int, error)

func (f writerFunc) Write(p []byte) (int, error) { return f(p) }
