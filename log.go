package qun

import (
	"context"
)

// LogStore keeps each room's event log: the single order of everything that
// happens in a room. Implementations: NewMemoryLogStore (ephemeral, bounded)
// and NewSQLiteLogStore (durable, embedded default); adapters for other
// engines pass package logtest's conformance suite.
//
// All methods are safe for concurrent use. Rooms are independent: a room is
// identified by its RoomRef, so two tenants never share a log.
type LogStore interface {
	// Append durably appends evs to ref's log in the given order, setting each
	// event's Seq to the room's next sequence numbers (consecutive, starting
	// at 1 for a new room). It is all or nothing: on error no event was
	// appended and Seq values must be ignored. When Append returns nil the
	// events survive a crash, as far as the implementation promises.
	Append(ctx context.Context, ref RoomRef, evs ...*Event) error

	// Read returns up to limit events with Seq > after, in ascending order.
	// If events after `after` have been trimmed, it returns an *Error with
	// CodeTooOld.
	Read(ctx context.Context, ref RoomRef, after uint64, limit int) ([]*Event, error)

	// ReadBefore returns up to limit events with Seq < before, in ascending
	// order, ending just before `before`; before == 0 means the end of the
	// log. It pages history backwards.
	ReadBefore(ctx context.Context, ref RoomRef, before uint64, limit int) ([]*Event, error)

	// Last returns the highest Seq in ref's log, 0 if it is empty.
	Last(ctx context.Context, ref RoomRef) (uint64, error)

	// Redact replaces the data of the event at seq, keeping its place, type
	// and actor: a recalled message's text must not be served again, not even
	// to a client resuming from before it. Unknown seqs answer CodeNotFound.
	Redact(ctx context.Context, ref RoomRef, seq uint64, data []byte) error

	// Close releases resources. Idempotent.
	Close() error
}

// Broker carries events between the nodes that serve a deployment. The Hub
// subscribes once per room per node (never per client) and orders what it
// receives by Seq, filling gaps from the LogStore, so a Broker need not keep
// order nor guarantee delivery. NewMemoryBroker serves one process.
type Broker interface {
	// Publish sends ev (durable or ephemeral) to every node subscribed to
	// its room, including this one.
	Publish(ctx context.Context, ev *Event) error
	// Subscribe calls deliver for every event published to ref until the
	// returned function is called. deliver must not block for long; it is
	// called from one goroutine per subscription at a time.
	Subscribe(ctx context.Context, ref RoomRef, deliver func(*Event)) (unsubscribe func(), err error)
	// Close releases resources. Idempotent.
	Close() error
}
