package chat

import (
	"context"
	"hash/maphash"
	"sync"

	"github.com/qunkit/qun"
)

// Locker serialises a group's changes with the publication of their
// events. Sends hold the group's lock shared, from their checks (member,
// not muted) to the message's publication; state changes (kick, mute,
// roles, settings, ...) hold it exclusively from their transaction to the
// publication of their events. So a room's events follow the order in
// which their changes committed, and no message that passed its checks
// before a kick is published after it.
//
// Config.Locker nil means an in-memory lock, which serialises the
// Service's own calls: right for one node. When several nodes serve one
// deployment, all their Services must share one Locker (for example
// postgres.NewRoomLocker), or two nodes changing one group at the same
// instant may publish events in the opposite order of their commits.
type Locker interface {
	// Lock blocks until it holds room's lock, shared or exclusive, or ctx
	// ends. The caller calls unlock exactly once.
	Lock(ctx context.Context, room qun.RoomRef, shared bool) (unlock func(), err error)
}

// memLocker is the default Locker: read-write mutexes striped by room.
type memLocker struct {
	seed  maphash.Seed
	locks [256]sync.RWMutex
}

func newMemLocker() *memLocker { return &memLocker{seed: maphash.MakeSeed()} }

func (m *memLocker) Lock(_ context.Context, room qun.RoomRef, shared bool) (func(), error) {
	var h maphash.Hash
	h.SetSeed(m.seed)
	h.WriteString(string(room.Tenant))
	h.WriteByte(0)
	h.WriteString(string(room.Room))
	l := &m.locks[h.Sum64()%uint64(len(m.locks))]
	if shared {
		l.RLock()
		return l.RUnlock, nil
	}
	l.Lock()
	return l.Unlock, nil
}
