package replay

import (
	"context"

	"github.com/pion/rtcp"
	"github.com/pion/rtp"
	"github.com/qunkit/qun"
)

// The recorder hook, in the shape package live defines it (live.TrackInfo,
// live.TrackWriter, live.Recorder). TODO: become aliases of live's types
// once package live builds.

// TrackInfo describes a published track to a Recorder.
type TrackInfo struct {
	LiveID      string
	TrackID     string
	Publisher   qun.UserID
	Kind        string // "audio" or "video"
	Source      string // camera, microphone, screen, screen_audio
	MimeType    string // "video/VP8", "audio/opus", "video/H264"
	ClockRate   uint32
	Channels    uint16
	SDPFmtpLine string
}

// TrackWriter receives one track's packets; calls are sequential.
type TrackWriter interface {
	WriteRTP(*rtp.Packet) error
	WriteRTCP([]rtcp.Packet) error
	Close() error
}

// Recorder is asked for a TrackWriter for every track of a live.
type Recorder interface {
	TrackStarted(ctx context.Context, t TrackInfo) (TrackWriter, error)
}

// Lives attaches recorders to lives; *live.Service implements it.
type Lives interface {
	// AttachRecorder starts delivering live's tracks to r until detach.
	AttachRecorder(ctx context.Context, tenant qun.TenantID, live qun.RoomID, r Recorder) (detach func(), err error)
}
