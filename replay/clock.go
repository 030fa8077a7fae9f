package replay

import (
	"time"
)

// slewDiv bounds how fast the sender-report correction may move media
// time: by 1/slewDiv of the elapsed media time (0.5%). Clock drift between
// a sender's audio and video clocks is around 100 ppm, fifty times less;
// the bound keeps audio blocks from overlapping when a report jitters.
const slewDiv = 200

// mediaClock maps one track's RTP timestamps to time. Media time starts at
// 0 with the track's first written frame and follows the RTP clock,
// unwrapped across 32-bit wraparound. When the sender's RTCP sender
// reports arrive, media time is steered (slewed, never stepped) to follow
// the sender's wall clock instead, which is the clock that keeps the
// sender's audio and video together; and the track's start is placed on
// that wall clock, so tracks of one publisher line up to the millisecond.
//
// Not safe for concurrent use; trackRecorder serialises calls.
type mediaClock struct {
	rate int64 // RTP ticks per second

	started bool
	lastTS  uint32
	ext     int64 // extended RTP time of lastTS
	first   int64 // extended RTP time of the first frame
	arrival time.Time

	sr      bool
	srExt   int64
	srNTP   int64 // unix ns
	startSR int64 // sender wall time of the first frame, unix ns (valid once sr)

	pending    bool // a report arrived before the first frame
	pendingTS  uint32
	pendingNTP int64

	corr    int64 // ns added to RTP-derived media time
	lastRaw int64
	lastOut int64
}

func newMediaClock(rate int) *mediaClock {
	if rate <= 0 {
		rate = 90000
	}
	return &mediaClock{rate: int64(rate)}
}

// ticks converts RTP ticks to ns without overflowing on long recordings.
func (c *mediaClock) ticks(d int64) int64 {
	return d/c.rate*int64(time.Second) + d%c.rate*int64(time.Second)/c.rate
}

// frame returns the media time of a frame with RTP timestamp ts; now is
// asked for the first frame's arrival time.
func (c *mediaClock) frame(ts uint32, now func() time.Time) time.Duration {
	if !c.started {
		c.started = true
		c.lastTS, c.ext, c.first, c.arrival = ts, 1<<40, 1<<40, now()
		if c.pending {
			c.report(c.pendingTS, c.pendingNTP)
		}
	} else {
		c.ext += int64(int32(ts - c.lastTS))
		c.lastTS = ts
	}
	raw := c.ticks(c.ext - c.first)
	if c.sr {
		target := c.srNTP + c.ticks(c.ext-c.srExt) - c.startSR - raw
		step := max((raw-c.lastRaw)/slewDiv, 0)
		switch {
		case target > c.corr+step:
			c.corr += step
		case target < c.corr-step:
			c.corr -= step
		default:
			c.corr = target
		}
	}
	c.lastRaw = raw
	out := max(raw+c.corr, c.lastOut, 0)
	c.lastOut = out
	return time.Duration(out)
}

// report takes a sender report: the sender's wall clock (unix ns) at RTP
// time ts.
func (c *mediaClock) report(ts uint32, ntp int64) {
	if !c.started {
		c.pending, c.pendingTS, c.pendingNTP = true, ts, ntp
		return
	}
	c.srExt = c.ext + int64(int32(ts-c.lastTS))
	c.srNTP = ntp
	if !c.sr {
		c.sr = true
		c.startSR = ntp - c.ticks(c.srExt-c.first)
	}
}

// start returns the track's start on the sender's wall clock (unix ns) and
// whether a sender report has given it; otherwise it is the server's
// arrival time of the first frame.
func (c *mediaClock) start() (unixNS int64, fromSR bool) {
	if c.sr {
		return c.startSR, true
	}
	return c.arrival.UnixNano(), false
}

// ntpToUnix converts a 64-bit NTP timestamp (RFC 3550 §4) to unix ns.
func ntpToUnix(ntp uint64) int64 {
	const epochDelta = 2208988800 // seconds from 1900 to 1970
	sec := int64(ntp>>32) - epochDelta
	frac := int64((ntp & 0xffffffff) * uint64(time.Second) >> 32)
	return sec*int64(time.Second) + frac
}
