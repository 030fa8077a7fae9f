package natsbroker

import (
	"encoding/binary"
	"errors"

	"github.com/qunkit/qun"
)

// codecVersion is the first byte of every message, so that nodes of two
// releases can tell each other's messages apart during a rolling upgrade.
const codecVersion = 1

// encode lays an event out as: version, uvarint seq, varint ts, then tenant,
// room, type and actor each as uvarint length + bytes, then the data to the
// end. Binary rather than JSON: no escaping, and the data is copied as is.
func encode(ev *qun.Event) []byte {
	n := 1 + 2*binary.MaxVarintLen64 + 4*binary.MaxVarintLen16 +
		len(ev.Tenant) + len(ev.Room) + len(ev.Type) + len(ev.Actor) + len(ev.Data)
	b := make([]byte, 0, n)
	b = append(b, codecVersion)
	b = binary.AppendUvarint(b, ev.Seq)
	b = binary.AppendVarint(b, ev.TS)
	for _, s := range [...]string{string(ev.Tenant), string(ev.Room), ev.Type, string(ev.Actor)} {
		b = binary.AppendUvarint(b, uint64(len(s)))
		b = append(b, s...)
	}
	return append(b, ev.Data...)
}

var errCorrupt = errors.New("natsbroker: malformed event message")

// decode is encode's inverse. b must not be modified afterwards: the event's
// Data refers into it.
func decode(b []byte) (*qun.Event, error) {
	if len(b) == 0 || b[0] != codecVersion {
		return nil, errCorrupt
	}
	b = b[1:]
	seq, n := binary.Uvarint(b)
	if n <= 0 {
		return nil, errCorrupt
	}
	b = b[n:]
	ts, n := binary.Varint(b)
	if n <= 0 {
		return nil, errCorrupt
	}
	b = b[n:]
	var s [4]string
	for i := range s {
		l, n := binary.Uvarint(b)
		if n <= 0 || l > uint64(len(b)-n) {
			return nil, errCorrupt
		}
		s[i] = string(b[n : n+int(l)])
		b = b[n+int(l):]
	}
	ev := &qun.Event{Tenant: qun.TenantID(s[0]), Room: qun.RoomID(s[1]), Type: s[2], Actor: qun.UserID(s[3]), Seq: seq, TS: ts}
	if len(b) > 0 {
		ev.Data = b
	}
	return ev, nil
}
