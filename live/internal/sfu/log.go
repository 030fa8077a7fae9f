package sfu

import (
	"fmt"

	"github.com/pion/logging"
	"go.uber.org/zap"
)

// zapFactory bridges pion's logging to zap. pion logs at Debug and Trace
// very chattily; Trace is dropped, Debug goes to zap's Debug.
type zapFactory struct{ log *zap.Logger }

func (f zapFactory) NewLogger(scope string) logging.LeveledLogger {
	return zapLeveled{f.log.Named("pion." + scope).Sugar()}
}

type zapLeveled struct{ s *zap.SugaredLogger }

func (l zapLeveled) Trace(string)                   {}
func (l zapLeveled) Tracef(string, ...any)          {}
func (l zapLeveled) Debug(msg string)               { l.s.Debug(msg) }
func (l zapLeveled) Debugf(format string, a ...any) { l.s.Debugf(format, a...) }
func (l zapLeveled) Info(msg string)                { l.s.Info(msg) }
func (l zapLeveled) Infof(format string, a ...any)  { l.s.Infof(format, a...) }
func (l zapLeveled) Warn(msg string)                { l.s.Warn(msg) }
func (l zapLeveled) Warnf(format string, a ...any)  { l.s.Warnf(format, a...) }
func (l zapLeveled) Error(msg string)               { l.s.Error(msg) }
func (l zapLeveled) Errorf(format string, a ...any) { l.s.Error(fmt.Sprintf(format, a...)) }
