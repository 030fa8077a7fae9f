// Package live is qun's group live streaming (FEATURES L1–L7): lives that
// belong to groups, a stage of co-hosts, likes and speaker events, Q&A
// with featured answers (问答精选), and an
// SFU on pion/webrtc v3 that forwards the publishers' media to every viewer.
//
// # Shape
//
// New(Config) registers the "live.*" ops and the "live" room kind on the
// Hub (docs/ops/live.md lists them). Every op is a thin wrapper over a Go
// method the vendor's backend may call too (Start, Schedule, End, Join,
// Publish, AnswerStage, Mute, Kick, AttachRecorder, ...).
//
//   - A live belongs to a group room ("g:<id>"): whether a user may start
//     one is the group's role (Hub.RoomRole, StartRole) plus the vendor's
//     CanStart policy; live never imports chat. The live's comments are the
//     group's chat. Lives can be relayed into further groups (Share).
//   - The live's own room "live:<id>" carries its events (joined/left with
//     the viewer count, likes aggregated per second, stage changes, tracks,
//     media state) in the room log, and the active speaker ephemerally.
//   - Lifecycle: scheduled → live ⇄ paused → ended. Subscribers of a
//     scheduled live are reminded through the Notifier hook and their
//     inbox rooms when it starts. Records and reminders are in the Store
//     (MemoryStore, SQLiteStore; conformance suite in livetest).
//   - Q&A (Ask, AnswerQuestion, FeatureQuestion, Questions; ops
//     "live.qa.*"): any viewer asks while the live is on air; the host and
//     the home group's moderators answer and feature, also after the end.
//     Co-hosts do not curate (in a class they are students on stage).
//     Questions are in the Store, numbered per live from 1; every change is
//     a durable "live.qa.*" event in the live's room, so it is on the
//     replay's timeline. Text is bounded (500/2000 characters), questions
//     per user by a token bucket and a cap per live, and Config.Review (a
//     func, since live does not import chat) may mask or refuse the text.
//
// # Media
//
// internal/sfu does the forwarding and knows nothing of rooms: one pion
// peer connection per participant for publishing (client offers) and one
// for viewing (server offers), so signalling never collides. Each viewer
// gets its own outgoing track per published track (never a shared
// TrackLocalStaticRTP): SSRC, sequence numbers and timestamps are rewritten
// per viewer, continuous across simulcast layer switches; NACKs are answered
// from a per-layer packet cache (512 packets); keyframe requests (on
// subscribe, on layer switch, from viewers) are throttled per layer; RTCP
// is read from every sender and receiver. The layer per viewer follows REMB
// (browsers) or, without it, receiver-report loss, capped by the size the
// viewer asks for (live.layer). Header extensions are stripped on the way
// out (their ids belong to the publisher's negotiation).
//
// Demotion, kicks, mutes and pauses act on the server at once: a demoted
// co-host's publishing connection is closed, so their tracks stop for
// every viewer and recorder within one packet.
//
// A peer connection whose client goes silent (no media, RTCP or ICE
// check for Config.MediaTimeout, 15 s: ICE "failed") or whose DTLS fails
// is given up even though the client's WebSocket is still up (UDP
// blocked, a network change TCP survived): a publisher's tracks end for
// every viewer and recorder ("live.untrack"), a viewer's copies stop
// costing SRTP work, and the client gets a "live.failed" push {live, pc}
// so it publishes (live.offer) or joins (live.join) again on a new
// RTCPeerConnection. A client that leaves (live.leave, or its WebSocket
// closes) loses both connections at once, as before.
//
// Deployment: Network.UDPPort serves all media on one UDP port (ICE UDP
// mux); NAT1To1IPs advertises a public address; ICEServers (TURN) are used
// by the server and handed to clients; PortMin/PortMax bound ephemeral
// ports.
//
// Several nodes: a live's media runs on one node. With Config.Placement
// (postgres.Registry's LivePlacement, leases in the shared database) the
// node that first needs the running live — the one that starts it —
// claims it; on any other node live.join answers {"node": <address>}
// instead of joining, and the client opens a second connection there for
// the live's signalling, stage and media ops (which answer unavailable
// elsewhere; reads such as live.get and the room's events work on every
// node). A node that only carried a client's first connection can die
// without touching the live. If the node running a live dies, its lease
// runs out (RegistryConfig.TTL) and the next live.join claims the live on
// its own node; publishers publish again there. Without a Placement, route
// a live's clients to one node yourself.
//
// # Recording
//
// AttachRecorder hands every published track's packets (as sent by the
// publisher; the highest simulcast layer) and sender reports to a Recorder,
// which package replay implements. See its doc comment for the contract.
// Each TrackInfo carries RequestKeyframe: a recorder that lost packets
// (its queue overflowed, say) asks the publisher for a keyframe through
// the same per-layer throttle as the viewers' requests, since browsers
// send keyframes only when asked; a recording waiting for its first
// keyframe asks again every KeyframeInterval by itself. A Recorder that
// also implements LiveEnder is told when the live ends (End), after its
// writers are closed, so it need not watch the room's log.
//
// # Concurrency
//
// All methods are safe for concurrent use. Each published layer has one
// reader goroutine that fans packets out to the viewers without locks (a
// copy-on-write list); each viewer track has one RTCP goroutine; each
// running live has one ticker goroutine (likes, speaker); each recorder
// writer has one goroutine with a bounded queue (a slow recorder loses
// packets, never slows the live). Close ends them all and waits.
//
// pion is kept inside this package: its types appear in no exported API
// except the Recorder hook (rtp.Packet, rtcp.Packet), and pion's logs go to
// Config.Logger.
//
// # Limits
//
// A live's media runs on one node (Config.Placement routes its clients
// there). A simulcast track is recorded from the layer present at its
// first keyframe, the highest then, and stays on it: when the browser
// stops sending that layer (low uplink bandwidth, CPU), the recording
// pauses until it comes back. Mutes and pauses reach a recorder as a gap,
// in sequence numbers and in time.
//
// # Performance
//
// Measured on the 2-core development machine, shared with other builds,
// server and load tool as separate processes on loopback:
//
//	go build -o /tmp/qunlive-load ./cmd/qunlive-load
//	/tmp/qunlive-load run -spawn -viewers 200 -warmup 5s -duration 20s
//
//	1 publisher (1.5 Mbit/s VP8-sized video + 50 pkt/s audio), 200 viewers,
//	two runs (machine load average 8 and 5):
//	forwarded packets received/s      45954            40423
//	loss overall (worst viewer)       0.000% (0.000%)  0.019% (0.520%)
//	server forwarding delay, mean     2.9 ms           5.2 ms   (read → last of 200 writes)
//	server CPU                        0.33 cores       0.32 cores
//	server CPU per forwarded packet   7.08 µs          7.95 µs
//
// (Goal: loss ≤ 0.5 %, ≤ 10 µs per forwarded packet.) The end-to-end
// latency the tool also prints (mean 25 ms and 133 ms, with a share of
// packets over 100 ms) is dominated by the tool's own 200 pion viewers
// decrypting 40k packets/s on the same two cores; the server's own delay
// is the line above. Almost all of the 7 µs is
// pion's SRTP encryption (AES-GCM) and the UDP write; the SFU's own work
// per viewer is:
//
//	go test -run XXX -bench . ./live/internal/sfu/
//
//	BenchmarkForward-2       53.9 ns/op   0 B/op  0 allocs/op   (rewrite + history, one viewer)
//	BenchmarkFanout200-2     15.1 µs/op   75 ns/viewer  0 allocs/op
//	BenchmarkKeyframeVP8-2   3.4 ns/op
//
// Q&A is not on the media path; storing a question on SQLite (count,
// number and insert in one transaction, synchronous=FULL) is bound by the
// commit's fsync:
//
//	go test -run XXX -bench SQLiteAddQuestion -benchtime 2s ./live/
//
//	BenchmarkSQLiteAddQuestion-2   0.97 ms/op   3143 B/op   77 allocs/op
package live
