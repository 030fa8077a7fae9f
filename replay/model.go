package replay

import (
	"context"
	"time"

	"github.com/qunkit/qun"
)

// State is where a replay is in its lifecycle:
//
//	recording ──stop / recovery──▶ pending ──host keeps──▶ kept ──expiry──▶ expired
//	                                  │                      │
//	                                  └─host discards / undecided past DecideBy──▶ discarded
//
// Discarded and expired replays keep their metadata (so that links answer
// a clear error) but their media and timeline are deleted.
type State string

// The states.
const (
	StateRecording State = "recording"
	StatePending   State = "pending"
	StateKept      State = "kept"
	StateDiscarded State = "discarded"
	StateExpired   State = "expired"
)

// Replay is one recorded live: its media tracks and its timeline.
type Replay struct {
	ID     string       `json:"id"`
	Tenant qun.TenantID `json:"-"`
	// Live is the live's room; Group the group room it belongs to, if any.
	// Viewers of Group (or of Live when Group is empty) may watch the
	// replay once kept.
	Live  qun.RoomID `json:"live"`
	Group qun.RoomID `json:"group,omitempty"`
	// Host started the recording and may keep or discard it (as may the
	// live room's owner and the group's moderators).
	Host  qun.UserID `json:"host"`
	Title string     `json:"title,omitempty"`
	State State      `json:"state"`

	StartedAt time.Time `json:"startedAt"`
	EndedAt   time.Time `json:"endedAt,omitzero"`
	// DurationMs is the recording's length: from its start to its end.
	DurationMs int64 `json:"durationMs"`
	// DecideBy is when a pending replay the host did not keep is discarded.
	DecideBy time.Time `json:"decideBy,omitzero"`
	// ExpiresAt is when a kept replay expires; zero means never.
	ExpiresAt time.Time `json:"expiresAt,omitzero"`

	Tracks []Track `json:"tracks"`
	// Events counts the timeline's events.
	Events int `json:"events"`

	// Rooms lists the rooms whose events form the timeline, with each
	// room's log position when the recording started.
	Rooms []RoomStart `json:"-"`
	// TimelineKey is the timeline's Storage key, once written.
	TimelineKey string `json:"-"`
	// Heartbeat is when the recording process last showed it was alive.
	Heartbeat time.Time `json:"-"`
	// Purged is set once a discarded or expired replay's files are deleted.
	Purged bool `json:"-"`
	// Version increments with every Store.Update (optimistic concurrency).
	Version int64 `json:"-"`
}

// RoomStart is a room of the timeline and its log head when recording began.
type RoomStart struct {
	Room  qun.RoomID `json:"room"`
	After uint64     `json:"after"`
}

// Track is one recorded media track: one file, which starts OffsetMs after
// the recording and lasts DurationMs.
type Track struct {
	ID        string     `json:"id"`
	Kind      string     `json:"kind"`             // audio or video
	Source    string     `json:"source,omitempty"` // camera, microphone or screen
	Publisher qun.UserID `json:"publisher"`
	// Codec is vp8, vp9, h264 or opus; MimeType is the file's type with
	// its codecs parameter (for MediaSource.isTypeSupported).
	Codec      string `json:"codec"`
	MimeType   string `json:"mimeType"`
	OffsetMs   int64  `json:"offsetMs"`
	DurationMs int64  `json:"durationMs"`
	Bytes      int64  `json:"bytes"`
	Width      int    `json:"width,omitempty"`
	Height     int    `json:"height,omitempty"`
	Channels   int    `json:"channels,omitempty"`

	// Key is the file's Storage key.
	Key string `json:"-"`
	// Done is set when the file was finalised (seekable, duration known).
	Done bool `json:"-"`
	// Synced is set when sender reports placed the track (otherwise its
	// offset comes from packet arrival times).
	Synced bool `json:"-"`
}

// Query selects replays for Store.List.
type Query struct {
	Tenant qun.TenantID
	// Live and Group filter by room when set.
	Live  qun.RoomID
	Group qun.RoomID
	// States filters by state when not empty.
	States []State
	// Before pages backwards: only replays started before it (zero: no bound).
	Before time.Time
	// Limit bounds the result (newest first); ≤ 0 means 50.
	Limit int
}

// Store keeps replay metadata. NewSQLiteStore is the embedded default;
// other engines pass replaytest.RunStoreTests. Every method is scoped by
// tenant: another tenant's replay answers CodeNotFound.
type Store interface {
	// Create stores a new replay with Version 1. An existing id answers
	// CodeConflict.
	Create(ctx context.Context, r *Replay) error
	// Get returns the replay, or CodeNotFound.
	Get(ctx context.Context, tenant qun.TenantID, id string) (*Replay, error)
	// Update replaces the stored replay if its version still equals
	// r.Version, and increments r.Version. A changed version answers
	// CodeConflict, a missing replay CodeNotFound.
	Update(ctx context.Context, r *Replay) error
	// List returns replays matching q, newest first.
	List(ctx context.Context, q Query) ([]*Replay, error)
	// Due returns up to limit replays, in any tenant, that need the
	// sweeper: pending past DecideBy, kept past ExpiresAt, recording with a
	// Heartbeat before stale, and discarded or expired but not Purged.
	Due(ctx context.Context, now, stale time.Time, limit int) ([]*Replay, error)
}

// clone returns a deep copy of r, so that callers never share a Replay.
func (r *Replay) clone() *Replay {
	c := *r
	c.Tracks = append([]Track(nil), r.Tracks...)
	c.Rooms = append([]RoomStart(nil), r.Rooms...)
	return &c
}
