package whiteboard

import (
	"context"
	"sync"

	"github.com/qunkit/qun"
)

// Locker makes the writes to one board take turns across nodes. Each node
// keeps the boards in use in memory; with a Locker, a durable operation
// takes the board room's lock (exclusive), brings the node's copy up to
// the log's end (what other nodes wrote), validates against it, publishes
// and applies, then releases the lock. So every node validates against
// the board as it is, and the log's order is the order of validation.
//
// Config.Locker nil means no cross-node lock: one node per board (see the
// package doc). postgres.NewRoomLocker is the PostgreSQL implementation;
// chat.Locker has the same method, so one value serves both.
type Locker interface {
	// Lock blocks until it holds room's lock, shared or exclusive, or ctx
	// ends. The caller calls unlock exactly once.
	Lock(ctx context.Context, room qun.RoomRef, shared bool) (unlock func(), err error)
}

// boardMu is a board's in-process mutex, plus the Locker's lock when
// acquire took one: Unlock releases both.
type boardMu struct {
	sync.Mutex
	release func() // the Locker's unlock; set while held
}

func (m *boardMu) Unlock() {
	r := m.release
	m.release = nil
	if r != nil {
		r()
	}
	m.Mutex.Unlock()
}

// mode is what an operation needs of a board on several nodes.
type mode int

const (
	// forNone: nothing beyond the node's copy (ephemeral frames, files).
	forNone mode = iota
	// forRead: the node's copy caught up with the log.
	forRead
	// forWrite: the Locker's lock, then caught up (durable operations).
	forWrite
)

// catchUp applies what other nodes appended to the board's room since this
// node's copy last saw it. b.mu is held. A board deleted through another
// node answers not_found, as a board that never existed.
func (s *Service) catchUp(ctx context.Context, b *board) error {
	last, err := s.hub.Log().Last(ctx, b.ref)
	if err != nil {
		return err
	}
	if last <= b.m.seq {
		return nil
	}
	if err := s.readLog(ctx, b.m, b.ref, last); err != nil {
		b.gone = true
		return err
	}
	b.foreign = b.m.seq
	if b.m.deleted {
		b.gone = true
		s.forget(b)
		return errNoBoard
	}
	return nil
}
