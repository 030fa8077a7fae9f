//go:build !linux

package qload

import (
	"context"
	"errors"
)

const haveEpoll = false

func (s *Subscribers) startEpoll(context.Context, SubConfig) error {
	return errors.New("qload: epoll subscribers need Linux")
}
