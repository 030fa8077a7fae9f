package qun

import (
	"encoding/json"
	"strconv"
	"sync"
)

// Event is one thing that happened in a room. Durable events get the room's
// next sequence number (Seq ≥ 1) from the LogStore; ephemeral ones (laser
// pointer, typing, audio levels) have Seq 0 and are fanned out but never
// stored or replayed.
//
// An Event is immutable once appended and is shared by every subscriber:
// its wire frame is encoded once (Frame) and the same bytes go to all.
type Event struct {
	Tenant TenantID        `json:"-"`
	Room   RoomID          `json:"room"`
	Seq    uint64          `json:"seq,omitempty"`
	Type   string          `json:"type"`
	Actor  UserID          `json:"actor,omitempty"`
	TS     int64           `json:"ts"` // unix milliseconds, set by the Hub
	Data   json.RawMessage `json:"d,omitempty"`

	frameOnce sync.Once
	frame     []byte
}

// Ref returns the event's room reference.
func (e *Event) Ref() RoomRef { return RoomRef{Tenant: e.Tenant, Room: e.Room} }

// Frame returns the event's protocol frame ({"t":"ev",...}), encoded on the
// first call and shared afterwards. Callers must not modify it.
func (e *Event) Frame() []byte {
	e.frameOnce.Do(func() {
		b := make([]byte, 0, 96+len(e.Data)+len(e.Room)+len(e.Type)+len(e.Actor))
		b = append(b, `{"t":"ev","room":`...)
		b = appendJSONString(b, string(e.Room))
		if e.Seq != 0 {
			b = append(b, `,"seq":`...)
			b = strconv.AppendUint(b, e.Seq, 10)
		}
		b = append(b, `,"type":`...)
		b = appendJSONString(b, e.Type)
		if e.Actor != "" {
			b = append(b, `,"actor":`...)
			b = appendJSONString(b, string(e.Actor))
		}
		b = append(b, `,"ts":`...)
		b = strconv.AppendInt(b, e.TS, 10)
		if len(e.Data) > 0 {
			b = append(b, `,"d":`...)
			b = append(b, e.Data...)
		}
		e.frame = append(b, '}')
	})
	return e.frame
}

// appendJSONString appends s as a JSON string. strconv.AppendQuote is valid
// JSON only for ASCII-safe input, so anything else goes through encoding/json.
func appendJSONString(b []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c >= 0x7f || c == '\\' || c == '"' {
			q, _ := json.Marshal(s)
			return append(b, q...)
		}
	}
	b = append(b, '"')
	b = append(b, s...)
	return append(b, '"')
}

// Draft is an event about to be published; the Hub fills in room, sequence
// and time.
type Draft struct {
	Type  string `validate:"required,max=64"`
	Actor UserID
	// Data is marshalled to JSON once. A json.RawMessage or []byte is used as is.
	Data any
}
