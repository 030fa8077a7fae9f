package replay

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/qunkit/qun"
)

// The stored form of a Replay, for Store implementations (the SQLite store
// here, the PostgreSQL one in package postgres): stores keep in columns what
// their queries filter on (tenant, id, live, group, state, deadlines,
// heartbeat, purged, version) and everything else, internal track fields
// included, as one JSON document made by EncodeRecord. One codec means a
// field added to Replay is stored by every backend at once.

// record is the JSON document EncodeRecord writes.
type record struct {
	Live        qun.RoomID  `json:"live"`
	Group       qun.RoomID  `json:"group,omitempty"`
	Host        qun.UserID  `json:"host"`
	Title       string      `json:"title,omitempty"`
	StartedAt   int64       `json:"startedAt"`
	EndedAt     int64       `json:"endedAt,omitempty"`
	DurationMs  int64       `json:"durationMs"`
	Tracks      []trackRec  `json:"tracks"`
	Events      int         `json:"events"`
	Rooms       []RoomStart `json:"rooms"`
	TimelineKey string      `json:"timelineKey,omitempty"`
}

// trackRec adds the fields Track keeps out of its JSON (they are not for
// clients) back in for storage.
type trackRec struct {
	Track
	Key    string `json:"key"`
	Done   bool   `json:"done,omitempty"`
	Synced bool   `json:"synced,omitempty"`
}

// EncodeRecord returns the JSON document holding r's fields that a Store
// does not keep in columns of their own (see DecodeRecord).
func EncodeRecord(r *Replay) ([]byte, error) {
	rec := record{Live: r.Live, Group: r.Group, Host: r.Host, Title: r.Title,
		StartedAt: UnixMS(r.StartedAt), EndedAt: UnixMS(r.EndedAt), DurationMs: r.DurationMs,
		Events: r.Events, Rooms: r.Rooms, TimelineKey: r.TimelineKey}
	for _, t := range r.Tracks {
		rec.Tracks = append(rec.Tracks, trackRec{Track: t, Key: t.Key, Done: t.Done, Synced: t.Synced})
	}
	return json.Marshal(rec)
}

// DecodeRecord sets r's fields from a document EncodeRecord made. The
// column fields (Tenant, ID, State, DecideBy, ExpiresAt, Heartbeat, Purged,
// Version) are the caller's to set.
func DecodeRecord(data []byte, r *Replay) error {
	var rec record
	if err := json.Unmarshal(data, &rec); err != nil {
		return fmt.Errorf("replay: decode %s: %w", r.ID, err)
	}
	r.Live, r.Group, r.Host, r.Title = rec.Live, rec.Group, rec.Host, rec.Title
	r.StartedAt, r.EndedAt, r.DurationMs = FromUnixMS(rec.StartedAt), FromUnixMS(rec.EndedAt), rec.DurationMs
	r.Events, r.Rooms, r.TimelineKey = rec.Events, rec.Rooms, rec.TimelineKey
	r.Tracks = make([]Track, 0, len(rec.Tracks))
	for _, t := range rec.Tracks {
		tr := t.Track
		tr.Key, tr.Done, tr.Synced = t.Key, t.Done, t.Synced
		r.Tracks = append(r.Tracks, tr)
	}
	return nil
}

// UnixMS is t in Unix milliseconds, 0 for the zero time: how stores keep
// Replay's times in columns.
func UnixMS(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixMilli()
}

// FromUnixMS is UnixMS's inverse (UTC).
func FromUnixMS(v int64) time.Time {
	if v == 0 {
		return time.Time{}
	}
	return time.UnixMilli(v).UTC()
}
