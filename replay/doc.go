// Package replay records lives and plays them back in sync (R1–R4): every
// published track as it arrives, without re-encoding, plus the events of
// the live's rooms on one timeline; the host keeps or discards the replay;
// viewers watch it with chat, board and product events in step with the
// media.
//
// # Recording
//
// Service.Start (or the replay.start op, for the live's owner) attaches a
// recorder to a live through package live's hook (live.Recorder). live
// calls TrackStarted for every track published then and later (a co-host
// joining after ten minutes is just a later track) and hands each
// track's RTP and RTCP sender reports to its TrackWriter on a goroutine of
// its own, so recording never slows forwarding. Each track becomes one file:
//
//   - VP8, VP9 → WebM (V_VP8, V_VP9); Opus → WebM (A_OPUS);
//   - H.264 → fragmented MP4 (avc1, parameter sets from the stream).
//
// Per track: a jitter buffer restores sequence order (300 ms of
// reordering, duplicates dropped); a depacketiser reassembles frames
// (payload descriptors stripped, H.264 rewritten length-prefixed); after a
// loss, video frames are dropped until the next keyframe so nothing
// decodes corrupt, and the recorder asks the publisher for that keyframe
// (TrackInfo.RequestKeyframe, through live's per-layer throttle; again
// every 500 ms while it waits), since browsers send one only when asked:
// the recording resumes within the 300 ms reorder wait plus a round trip
// instead of freezing. VP9 keeps its base spatial layer only. Media time
// starts at the track's first written frame and follows the RTP clock,
// unwrapped across 32-bit wraparound (so a recording can last days). When
// sender reports arrive it is steered, by at most 0.5 % of elapsed time,
// to the sender's wall clock, which is what keeps a sender's audio and
// video together over hours even when its sound card clock drifts. Each
// track's offset in the recording is its first frame on the sender's
// wall clock plus that publisher's clock offset to the server (the least
// arrival−send difference over its reports), so one publisher's tracks
// line up exactly and different publishers within a network delay; a
// track without reports is placed by arrival time.
//
// The recording stops with Service.Stop, the replay.stop op, or by itself
// when the live ends: live tells the recorder at once (live.LiveEnder).
// As a fallback, for a Lives that does not tell (a vendor's, or an end
// made known by other means, Config.EndEvent), each heartbeat also reads
// the live's room log to its head looking for "live.ended". Files are then finalised
// (WebM: Cues, SeekHead, Duration and segment size written in place; MP4:
// mehd duration and an mfra index), and the timeline is written: the
// events of the live room, the group room and any StartOptions.Rooms,
// read from the Hub's room log from the recording's start to its end, each
// with At, its offset from the recording's start in ms (JSON lines,
// sorted by At). Whiteboards announced in those rooms ("wb.board", before
// or during the live; Config.Follow) bring their own room's whole history,
// what came before the recording at At 0, so a player rebuilds the board
// at any time by applying the events up to it.
//
// # Crash safety
//
// A WebM cluster (≤ 2 s) or MP4 fragment is buffered in memory and written
// with one write, so a file always ends on a cluster boundary: a recorder
// killed mid-live (tested with SIGKILL of a child process) leaves files
// that ffmpeg and browsers play as they are, missing at most the last two
// seconds. A heartbeat (Config.Heartbeat) saves each recording's tracks and
// progress; Recover (run by the sweeper, or by the vendor at startup)
// finalises recordings whose heartbeat is older than Config.StaleAfter into
// pending replays, rewriting each track's file with its index and
// duration.
//
// # Lifecycle
//
//	recording → pending → kept → expired
//	               └────→ discarded (by the host, or undecided past DecideBy)
//
// Pending replays are seen only by hosts (the recording's host, the live
// room's owner, the group's moderators and owner, tenant admins), who keep
// (optionally choosing an expiry within Config.Retention) or discard them.
// Discarded and expired replays keep their metadata, so links answer
// not_found ("discarded") or expired, and their files are deleted. The
// sweeper (Config.SweepInterval) applies deadlines and retries deletions.
// Metadata lives in a Store (SQLite by default), files in a Storage
// (filesystem by default); both have conformance suites in replaytest.
//
// # Playback
//
// Handler is an http.Handler (see docs/ops/replay.md) that serves a
// replay's manifest (tracks, offsets, durations, codecs, URLs), its files
// with range requests, and its timeline for a time window. It
// authenticates with "Authorization: Bearer" or, for media elements,
// "?token="; everything is scoped to the caller's tenant, and viewers need
// qun.RoleViewer in the replay's group room (or its live room). A player
// plays each track at its offset, one clock for all, and asks the timeline
// for the window around the playhead when it seeks.
//
// # Concurrency
//
// Service methods are safe for concurrent use. Each recording has one
// goroutine (the heartbeat); track writers run on live's goroutines.
// Close finishes every recording in progress (they become pending) and
// stops the sweeper; it is idempotent.
//
// # Cost
//
// Recording one video track costs the server less CPU than forwarding it
// to one viewer (goal: ≤ 1.0×). Measured on the 2-core development machine,
// shared with other builds (load average 4–7), with real VP8 (640×480,
// 1 Mbit/s, 30 fps) packetised at a 1200-byte MTU:
//
//	go test -run XXX -bench 'RecordVP8|ForwardVP8' -benchtime 3s -count 3 ./replay/
//
//	BenchmarkRecordVP8              0.93–1.45 µs thread CPU/packet, 1.36–2.14 µs process CPU/packet, 3 allocs
//	BenchmarkForwardVP8ToOneViewer  2.15–2.36 µs thread CPU/packet, 6–7 allocs
//
// Method: both benchmarks lock their goroutine to an OS thread and read
// that thread's CPU time (getrusage RUSAGE_THREAD), which other load does
// not inflate. Recording is measured per packet over its whole path: the
// copy and parse live's hand-off does, reordering, depacketising, time
// mapping and the WebM writes to a real file (the write syscalls are most
// of it); its process CPU also counts the garbage collector. Forwarding
// is pion's send path to a real, connected pion viewer on loopback (SRTP
// encryption and the UDP write; live's own rewrite, 54 ns per packet in
// live/internal/sfu's BenchmarkForward, comes on top; the receive side is
// shared by forwarding and recording and left out of both). Ratio:
// recording ÷ forwarding = 0.43–0.65 by thread CPU, at most 0.97 counting
// recording's whole process CPU against forwarding's thread CPU. live's
// load test measures 7.08 µs of server CPU per forwarded packet end to end,
// which would put the ratio near 0.2–0.3.
//
// # Limits
//
// VP9 SVC keeps only the base spatial layer. A simulcast track is recorded
// from one layer, chosen by live when the recording starts (see live's
// Limits). Audio and video of a publisher are separate files; players
// align them by their offsets.
package replay
