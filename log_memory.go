package qun

import (
	"context"
	"sort"
	"sync"
)

// MemoryLogStoreConfig configures NewMemoryLogStore.
type MemoryLogStoreConfig struct {
	// MaxEventsPerRoom bounds each room's retained events; older ones are
	// trimmed and reading from before them answers CodeTooOld.
	// Zero means 10,000.
	MaxEventsPerRoom int
}

// NewMemoryLogStore returns a LogStore that keeps logs in memory: fast,
// bounded, lost on restart. Use it for tests and for rooms whose history
// need not survive a restart.
func NewMemoryLogStore(cfg MemoryLogStoreConfig) LogStore {
	if cfg.MaxEventsPerRoom <= 0 {
		cfg.MaxEventsPerRoom = 10_000
	}
	return &memoryLog{max: cfg.MaxEventsPerRoom, rooms: map[RoomRef]*memoryRoom{}}
}

type memoryLog struct {
	max    int
	mu     sync.RWMutex
	rooms  map[RoomRef]*memoryRoom
	closed bool
}

type memoryRoom struct {
	first  uint64 // seq of events[0]
	events []*Event
}

func (m *memoryLog) Append(_ context.Context, ref RoomRef, evs ...*Event) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return ErrClosed
	}
	r := m.rooms[ref]
	if r == nil {
		r = &memoryRoom{first: 1}
		m.rooms[ref] = r
	}
	next := r.first + uint64(len(r.events))
	for i, ev := range evs {
		ev.Tenant, ev.Room, ev.Seq = ref.Tenant, ref.Room, next+uint64(i)
	}
	r.events = append(r.events, evs...)
	if over := len(r.events) - m.max; over > 0 {
		// Trim in chunks so appends stay amortised O(1).
		if over < m.max/4 {
			over = min(m.max/4, len(r.events))
		}
		r.events = append([]*Event(nil), r.events[over:]...)
		r.first += uint64(over)
	}
	return nil
}

func (m *memoryLog) Read(_ context.Context, ref RoomRef, after uint64, limit int) ([]*Event, error) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	if m.closed {
		return nil, ErrClosed
	}
	r := m.rooms[ref]
	if r == nil || limit <= 0 {
		return nil, nil
	}
	if after+1 < r.first {
		return nil, tooOld(after)
	}
	i := int(after + 1 - r.first)
	if i >= len(r.events) {
		return nil, nil
	}
	return append([]*Event(nil), r.events[i:min(len(r.events), i+limit)]...), nil
}

func (m *memoryLog) ReadBefore(_ context.Context, ref RoomRef, before uint64, limit int) ([]*Event, error) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	if m.closed {
		return nil, ErrClosed
	}
	r := m.rooms[ref]
	if r == nil || limit <= 0 {
		return nil, nil
	}
	end := len(r.events)
	if before != 0 {
		end = sort.Search(len(r.events), func(i int) bool { return r.events[i].Seq >= before })
	}
	return append([]*Event(nil), r.events[max(0, end-limit):end]...), nil
}

func (m *memoryLog) Last(_ context.Context, ref RoomRef) (uint64, error) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	if m.closed {
		return 0, ErrClosed
	}
	r := m.rooms[ref]
	if r == nil {
		return 0, nil
	}
	return r.first + uint64(len(r.events)) - 1, nil
}

func (m *memoryLog) Redact(_ context.Context, ref RoomRef, seq uint64, data []byte) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return ErrClosed
	}
	r := m.rooms[ref]
	if r == nil || seq < r.first || seq >= r.first+uint64(len(r.events)) {
		return Errorf(CodeNotFound, "no event %d", seq)
	}
	// Events are shared and their frames cached: replace, never mutate.
	old := r.events[seq-r.first]
	r.events[seq-r.first] = &Event{Tenant: old.Tenant, Room: old.Room, Seq: old.Seq, Type: old.Type, Actor: old.Actor, TS: old.TS, Data: append([]byte(nil), data...)}
	return nil
}

func (m *memoryLog) Close() error {
	m.mu.Lock()
	m.closed = true
	m.mu.Unlock()
	return nil
}

func tooOld(after uint64) *Error {
	return Errorf(CodeTooOld, "events after seq %d are no longer kept; reload history", after)
}
