package postgres

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/qunkit/qun"
)

// RoomLockerConfig configures NewRoomLocker.
type RoomLockerConfig struct {
	// Conns bounds the locks this node holds or waits for at once: each
	// takes one connection of the locker's own pool. Zero means 16.
	Conns int32
}

// RoomLocker is a lock per room shared by every node on one database:
// chat.Locker, whiteboard.Locker and shop.Locker on PostgreSQL advisory
// locks.
//
// A lock is a session-level advisory lock, shared or exclusive, keyed by
// (hash of the schema, hash of tenant and room) — the two-key form, whose
// key space is apart from the one-key advisory locks the stores take in
// their transactions. It is held on a connection of the locker's own pool
// for as long as the caller holds it, so a holder never waits for a
// connection that another holder keeps (the stores and the room log use
// other pools). If a node dies, its connections close and its locks are
// released. Hash collisions only make two rooms take turns.
type RoomLocker struct {
	pool *pgxpool.Pool
	once sync.Once
}

// NewRoomLocker opens the locker's pool with pool's connection settings.
// Close it before pool; pool stays the caller's.
func NewRoomLocker(ctx context.Context, pool *pgxpool.Pool, cfg RoomLockerConfig) (*RoomLocker, error) {
	if cfg.Conns <= 0 {
		cfg.Conns = 16
	}
	pc := pool.Config()
	pc.MaxConns, pc.MinConns = cfg.Conns, 0
	own, err := pgxpool.NewWithConfig(ctx, pc)
	if err != nil {
		return nil, fmt.Errorf("postgres: room locker pool: %w", err)
	}
	return &RoomLocker{pool: own}, nil
}

// Close closes the locker's pool, waiting for held locks to be released.
// Idempotent.
func (l *RoomLocker) Close() {
	l.once.Do(l.pool.Close)
}

const (
	lockShared    = `SELECT pg_advisory_lock_shared(hashtext('qun.room:' || current_schema()), hashtext($1 || ':' || $2))`
	lockExclusive = `SELECT pg_advisory_lock(hashtext('qun.room:' || current_schema()), hashtext($1 || ':' || $2))`
	unlockShared  = `SELECT pg_advisory_unlock_shared(hashtext('qun.room:' || current_schema()), hashtext($1 || ':' || $2))`
	unlockExcl    = `SELECT pg_advisory_unlock(hashtext('qun.room:' || current_schema()), hashtext($1 || ':' || $2))`
)

// Lock implements chat.Locker, whiteboard.Locker and shop.Locker. Errors other than
// ctx's answer qun.CodeUnavailable.
func (l *RoomLocker) Lock(ctx context.Context, room qun.RoomRef, shared bool) (func(), error) {
	c, err := l.pool.Acquire(ctx)
	if err != nil {
		return nil, lockErr(ctx, err)
	}
	lock, unlock := lockExclusive, unlockExcl
	if shared {
		lock, unlock = lockShared, unlockShared
	}
	if _, err := c.Exec(ctx, lock, string(room.Tenant), string(room.Room)); err != nil {
		// Whether the lock was taken is unknown: the connection, and any
		// lock on it, must not go back to the pool.
		_ = c.Conn().Close(context.Background())
		c.Release()
		return nil, lockErr(ctx, err)
	}
	return func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		var ok bool
		if err := c.QueryRow(ctx, unlock, string(room.Tenant), string(room.Room)).Scan(&ok); err != nil || !ok {
			_ = c.Conn().Close(ctx) // closing the session releases its locks
		}
		c.Release()
	}, nil
}

func lockErr(ctx context.Context, err error) error {
	if ctx.Err() != nil {
		return ctx.Err()
	}
	var qe *qun.Error
	if errors.As(err, &qe) {
		return err
	}
	return qun.Errorf(qun.CodeUnavailable, "room lock: %v", err)
}
