package replay

import (
	"context"

	"github.com/qunkit/qun"
	"github.com/qunkit/qun/live"
)

// The recorder hook is package live's: live calls TrackStarted for every
// track of a live it is attached to, and the TrackWriter it gets back
// receives that track's RTP and sender reports on a goroutine of its own.
type (
	TrackInfo   = live.TrackInfo
	TrackWriter = live.TrackWriter
	Recorder    = live.Recorder
	// LiveEnder is how live tells a recorder at once that the live ended.
	LiveEnder = live.LiveEnder
)

var _ LiveEnder = (*recording)(nil)

// Lives attaches recorders to lives; *live.Service implements it.
type Lives interface {
	// AttachRecorder starts delivering live's tracks to r until detach.
	AttachRecorder(ctx context.Context, tenant qun.TenantID, live qun.RoomID, r Recorder) (detach func(), err error)
}

// liveInfo is what replay.start asks a Lives that can tell (as
// *live.Service does): the live's group and title.
type liveInfo interface {
	Get(ctx context.Context, id *qun.Identity, live string) (*live.Info, error)
}

var _ Lives = (*live.Service)(nil)
var _ liveInfo = (*live.Service)(nil)
