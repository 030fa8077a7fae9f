package live

import (
	"context"
	"time"

	"github.com/qunkit/qun"
	"go.uber.org/zap"
)

// Config configures a Service. Every field's zero value has the documented default.
type Config struct {
	// Hub carries the signalling and the live rooms' events. Required.
	Hub *qun.Hub
	// Store keeps lives (schedules, relays, state) and reminder
	// subscriptions. Nil means NewMemoryStore (lost on restart).
	Store Store
	// Logger receives the package's and pion's logs. Nil means zap.NewNop().
	Logger *zap.Logger

	// StartRole is the role in the group a user needs to start or schedule
	// a live there. Zero means qun.RoleMember (any member, 群直播).
	StartRole qun.Role
	// CanStart, if set, has the last word on starting or scheduling a live
	// in group: a group that forbids member lives, a vendor's plan limits.
	// Return a *qun.Error (CodeForbidden) to refuse. Nil allows all.
	// (chat owns the group's settings; live does not import chat, so the
	// vendor wires chat's policy in here.)
	CanStart func(ctx context.Context, id *qun.Identity, group qun.RoomID) error
	// Notifier reminds the users who subscribed to a scheduled live when it
	// starts (多终端直播提醒). Nil: reminders only go to the users' inbox
	// rooms as "live.reminder" events.
	Notifier Notifier

	// Review, if set, reviews every Q&A question and answer before it is
	// stored (keyword filters against off-platform contact details, a
	// moderation service). Nil stores the text as written.
	Review ReviewFunc
	// QuestionsPerMinute and QuestionBurst bound each user's questions in
	// a live (a token bucket per user and live). Zero means 6 a minute
	// with bursts of 3.
	QuestionsPerMinute float64
	QuestionBurst      int
	// MaxQuestionsPerUser bounds the questions one user asks in one live.
	// Zero means 50.
	MaxQuestionsPerUser int

	// Network places the SFU on the network.
	Network Network

	// MaxTracks bounds the tracks one publisher may send. Zero means 4
	// (camera, microphone, screen, screen audio).
	MaxTracks int
	// StageLimit is the default number of co-hosts for ModeSmall; large and
	// open classes default to 1. A live may set its own up to 16. Zero means 6.
	StageLimit int
	// LikesPerSecond and LikeBurst bound each user's likes (a token bucket
	// per user and live). Zero means 10/s with bursts of 50.
	LikesPerSecond float64
	LikeBurst      int
	// LikeFlush is how often like counts are aggregated into one
	// "live.likes" event. Zero means 1 s.
	LikeFlush time.Duration
	// SpeakerInterval is how often the active speaker is computed from
	// audio levels. Zero means 500 ms.
	SpeakerInterval time.Duration
	// KeyframeInterval is the shortest time between keyframe requests to a
	// publisher layer. Zero means 500 ms.
	KeyframeInterval time.Duration
	// MediaTimeout is how long a peer connection may go without a packet
	// from its client (media, RTCP or ICE checks) before the server gives
	// it up, even though the client's WebSocket is still up: a publishing
	// connection's tracks end for every viewer and recorder, and the
	// client gets a "live.failed" push so it can publish or join again.
	// Zero means 15 s.
	MediaTimeout time.Duration
	// Placement, on several nodes, runs each live's media on one node and
	// sends clients there (see Placement). Nil means every live's media
	// runs on the node its clients reach: one node.
	Placement Placement
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// Network places the SFU's media on the network.
type Network struct {
	// UDPPort, if > 0, serves all WebRTC media on this one UDP port (ICE
	// UDP mux), for hosts that open a single port. Zero means one ephemeral
	// port per peer connection, within PortMin..PortMax.
	UDPPort int
	// UDPAddr is the address the single port listens on; "" means all.
	UDPAddr string
	// PortMin and PortMax bound the ephemeral ports; zero means any.
	PortMin, PortMax uint16
	// NAT1To1IPs are the public addresses to advertise when the server is
	// behind a 1:1 NAT (cloud VMs with an elastic IP). Empty means the
	// interfaces' own addresses. With only IPv4 addresses here, no IPv6
	// candidates are offered.
	NAT1To1IPs []string
	// ICEServers (STUN/TURN) are used by the server's peer connections and
	// handed to clients in live.join's reply.
	ICEServers []ICEServer
	// IncludeLoopback also offers 127.0.0.1 candidates (tests, demos on one machine).
	IncludeLoopback bool
}

// ICEServer is a STUN or TURN server, as in the browser's RTCIceServer.
type ICEServer struct {
	URLs       []string `json:"urls"`
	Username   string   `json:"username,omitempty"`
	Credential string   `json:"credential,omitempty"`
}

// Notifier delivers reminders on the vendor's channels (app push, SMS,
// WeChat service messages). It is called from a goroutine of the Service;
// an error is logged.
type Notifier interface {
	LiveStarted(ctx context.Context, r Reminder) error
}

// NotifierFunc adapts a function to Notifier.
type NotifierFunc func(ctx context.Context, r Reminder) error

// LiveStarted calls f.
func (f NotifierFunc) LiveStarted(ctx context.Context, r Reminder) error { return f(ctx, r) }

// Reminder tells the Notifier who to remind about which live. Users come
// in batches of at most 500; a live with more subscribers produces several calls.
type Reminder struct {
	Tenant qun.TenantID
	Live   Record
	Users  []qun.UserID
}

func (c *Config) setDefaults() {
	if c.Store == nil {
		c.Store = NewMemoryStore()
	}
	if c.Logger == nil {
		c.Logger = zap.NewNop()
	}
	if c.StartRole == qun.RoleNone {
		c.StartRole = qun.RoleMember
	}
	if c.MaxTracks <= 0 {
		c.MaxTracks = 4
	}
	if c.StageLimit <= 0 {
		c.StageLimit = 6
	}
	if c.LikesPerSecond <= 0 {
		c.LikesPerSecond = 10
	}
	if c.LikeBurst <= 0 {
		c.LikeBurst = 50
	}
	if c.QuestionsPerMinute <= 0 {
		c.QuestionsPerMinute = 6
	}
	if c.QuestionBurst <= 0 {
		c.QuestionBurst = 3
	}
	if c.MaxQuestionsPerUser <= 0 {
		c.MaxQuestionsPerUser = 50
	}
	if c.LikeFlush <= 0 {
		c.LikeFlush = time.Second
	}
	if c.SpeakerInterval <= 0 {
		c.SpeakerInterval = 500 * time.Millisecond
	}
	if c.KeyframeInterval <= 0 {
		c.KeyframeInterval = 500 * time.Millisecond
	}
	if c.MediaTimeout <= 0 {
		c.MediaTimeout = 15 * time.Second
	}
	if c.Now == nil {
		c.Now = time.Now
	}
}
