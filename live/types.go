package live

import (
	"time"

	"github.com/qunkit/qun"
)

// RoomKind is the room kind of lives: a live's room is "live:<id>".
const RoomKind = "live"

// Room returns the room id of live id.
func Room(id string) qun.RoomID { return qun.RoomID(RoomKind + ":" + id) }

// State is where a live is in its lifecycle.
type State string

const (
	// StateScheduled: a preview (直播预告) users can subscribe to for a reminder.
	StateScheduled State = "scheduled"
	// StateLive: on air.
	StateLive State = "live"
	// StatePaused: on air, but the host paused it: no media is forwarded.
	StatePaused State = "paused"
	// StateEnded: over; nothing can join or publish.
	StateEnded State = "ended"
)

// Mode is the class mode of a live (L7).
type Mode string

const (
	// ModeLarge (大班课): one host, many viewers; a small stage (1 co-host by default).
	ModeLarge Mode = "large"
	// ModeSmall (小班课): a few students on stage (6 by default).
	ModeSmall Mode = "small"
	// ModeOpen (公开课): anyone in the tenant with the link may watch.
	ModeOpen Mode = "open"
)

// Source is what a published track carries.
type Source string

const (
	SourceCamera     Source = "camera"
	SourceMicrophone Source = "microphone"
	SourceScreen     Source = "screen"
	// SourceScreenAudio is the audio of a shared screen or tab.
	SourceScreenAudio Source = "screen_audio"
)

func (s Source) valid() bool {
	switch s {
	case SourceCamera, SourceMicrophone, SourceScreen, SourceScreenAudio:
		return true
	}
	return false
}

// Record is a live's durable description, kept in the Store.
type Record struct {
	Tenant qun.TenantID `json:"-"`
	ID     string       `json:"id"`
	// Group is the group room ("g:<id>") the live belongs to; its chat is the
	// live's chat.
	Group qun.RoomID `json:"group"`
	// Relays are further groups the live is relayed into (转化多群): their
	// members may watch too.
	Relays      []qun.RoomID `json:"relays,omitempty"`
	Host        qun.UserID   `json:"host"`
	Title       string       `json:"title"`
	Mode        Mode         `json:"mode"`
	StageLimit  int          `json:"stage_limit"`
	State       State        `json:"state"`
	ScheduledAt time.Time    `json:"scheduled_at,omitzero"`
	StartedAt   time.Time    `json:"started_at,omitzero"`
	EndedAt     time.Time    `json:"ended_at,omitzero"`
	CreatedAt   time.Time    `json:"created_at"`
}

// Room is the live's room id.
func (r *Record) Room() qun.RoomID { return Room(r.ID) }

// Groups returns the home group followed by the relays.
func (r *Record) Groups() []qun.RoomID {
	return append([]qun.RoomID{r.Group}, r.Relays...)
}

func (r *Record) clone() *Record {
	c := *r
	c.Relays = append([]qun.RoomID(nil), r.Relays...)
	return &c
}

// maxRelays bounds the groups one live is relayed into.
const maxRelays = 32
