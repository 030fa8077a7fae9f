package qun

import (
	"context"
	"sync"
)

// NewMemoryBroker returns the in-process Broker: Publish calls every
// subscriber of the room synchronously, in the publisher's goroutine.
func NewMemoryBroker() Broker {
	return &memoryBroker{subs: map[RoomRef]map[*memorySub]struct{}{}}
}

type memoryBroker struct {
	mu     sync.RWMutex
	subs   map[RoomRef]map[*memorySub]struct{}
	closed bool
}

type memorySub struct {
	mu      sync.Mutex // serialises deliveries, as the Broker contract promises
	deliver func(*Event)
}

func (b *memoryBroker) Publish(_ context.Context, ev *Event) error {
	b.mu.RLock()
	if b.closed {
		b.mu.RUnlock()
		return ErrClosed
	}
	set := b.subs[ev.Ref()]
	subs := make([]*memorySub, 0, len(set))
	for s := range set {
		subs = append(subs, s)
	}
	b.mu.RUnlock()
	for _, s := range subs {
		s.mu.Lock()
		s.deliver(ev)
		s.mu.Unlock()
	}
	return nil
}

func (b *memoryBroker) Subscribe(_ context.Context, ref RoomRef, deliver func(*Event)) (func(), error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return nil, ErrClosed
	}
	s := &memorySub{deliver: deliver}
	set := b.subs[ref]
	if set == nil {
		set = map[*memorySub]struct{}{}
		b.subs[ref] = set
	}
	set[s] = struct{}{}
	var once sync.Once
	return func() {
		once.Do(func() {
			b.mu.Lock()
			delete(b.subs[ref], s)
			if len(b.subs[ref]) == 0 {
				delete(b.subs, ref)
			}
			b.mu.Unlock()
		})
	}, nil
}

func (b *memoryBroker) Close() error {
	b.mu.Lock()
	b.closed = true
	b.subs = map[RoomRef]map[*memorySub]struct{}{}
	b.mu.Unlock()
	return nil
}
