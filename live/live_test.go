package live_test

import (
	"context"
	"encoding/json"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pion/webrtc/v3"
	"github.com/qunkit/qun"
	peer "github.com/qunkit/qun/internal/livepeer"
	"github.com/qunkit/qun/internal/qclient"
	"github.com/qunkit/qun/internal/qtest"
	"github.com/qunkit/qun/live"
	"go.uber.org/goleak"
	"go.uber.org/zap"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// groups stands in for chat: it answers roles in "g:" rooms.
type groups struct {
	mu    sync.Mutex
	roles map[qun.RoomID]map[qun.UserID]qun.Role
}

func (g *groups) set(room qun.RoomID, user qun.UserID, r qun.Role) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.roles[room] == nil {
		g.roles[room] = map[qun.UserID]qun.Role{}
	}
	g.roles[room][user] = r
}

func (g *groups) RoomRole(_ context.Context, id *qun.Identity, room qun.RoomID) (qun.Role, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	m, ok := g.roles[room]
	if !ok {
		return qun.RoleNone, qun.Errorf(qun.CodeNotFound, "no such group")
	}
	if r := m[id.User]; r > qun.RoleNone {
		return r, nil
	}
	return qun.RoleNone, qun.Errorf(qun.CodeNotFound, "no such group")
}

type env struct {
	*qtest.Env
	svc    *live.Service
	groups *groups
	api    *webrtc.API
}

func newEnv(t *testing.T, cfg live.Config) *env {
	t.Helper()
	g := &groups{roles: map[qun.RoomID]map[qun.UserID]qun.Role{}}
	e := &env{groups: g}
	e.Env = qtest.NewEnv(t, qun.Config{}, func(q *qtest.Env) {
		q.Hub.RegisterRooms("g", g)
		cfg.Hub = q.Hub
		if cfg.Logger == nil {
			cfg.Logger = peer.TestLogger(t, zap.WarnLevel)
		}
		cfg.Network.IncludeLoopback = true
		svc, err := live.New(cfg)
		if err != nil {
			t.Fatal(err)
		}
		e.svc = svc
	})
	// Registered after NewEnv's own cleanup, so it runs first: media stops
	// before the Hub shuts down.
	t.Cleanup(func() { e.svc.Close() })
	api, err := peer.NewAPI(peer.APIOptions{IncludeLoopback: true})
	if err != nil {
		t.Fatal(err)
	}
	e.api = api
	return e
}

func (e *env) peer(t *testing.T, user, liveID string) *peer.HubPeer {
	t.Helper()
	c := e.Connect(t, "t1", user)
	h := peer.NewHubPeer(c, e.api, liveID)
	t.Cleanup(h.Close)
	return h
}

func startLive(t *testing.T, c *qclient.Client, group string) live.Info {
	t.Helper()
	var info live.Info
	qtest.Call(t, c, "live.start", map[string]any{"group": group, "title": "Lesson"}, &info)
	return info
}

// held keeps the frames nextEvent skipped, per peer, for later calls.
var (
	heldMu sync.Mutex
	held   = map[*peer.HubPeer][]qclient.Frame{}
)

// nextEvent returns the earliest event of type typ not returned before;
// events of other types stay available to later calls.
func nextEvent(t *testing.T, h *peer.HubPeer, typ string) qclient.Frame {
	t.Helper()
	return nextFrame(t, h, "ev", typ)
}

// nextFrame is nextEvent for frames of kind ("ev", "push").
func nextFrame(t *testing.T, h *peer.HubPeer, kind, typ string) qclient.Frame {
	t.Helper()
	heldMu.Lock()
	for i, f := range held[h] {
		if f.T == kind && f.Type == typ {
			held[h] = append(held[h][:i:i], held[h][i+1:]...)
			heldMu.Unlock()
			return f
		}
	}
	heldMu.Unlock()
	timeout := time.After(10 * time.Second)
	for {
		select {
		case f, ok := <-h.Frames():
			if !ok {
				t.Fatalf("connection ended waiting for %s", typ)
			}
			if f.T == kind && f.Type == typ {
				return f
			}
			heldMu.Lock()
			held[h] = append(held[h], f)
			heldMu.Unlock()
		case err := <-h.Errs():
			t.Fatalf("signalling: %v", err)
		case <-timeout:
			t.Fatalf("no %s event", typ)
		}
	}
}

// waitMore waits until every track in since got n more packets.
func waitMore(t *testing.T, v *peer.Viewer, since map[string]peer.TrackStats, n uint64) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		now := v.Stats()
		ok := true
		for id, s := range since {
			if now[id].Packets < s.Packets+n {
				ok = false
			}
		}
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("media did not continue: %+v -> %+v", since, now)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func waitMedia(t *testing.T, v *peer.Viewer, tracks int, packets uint64) map[string]peer.TrackStats {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		st := v.Stats()
		ok := len(st) >= tracks
		for _, s := range st {
			if s.Packets < packets {
				ok = false
			}
		}
		if ok {
			return st
		}
		if time.Now().After(deadline) {
			t.Fatalf("viewer media: %+v", st)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func TestPublishAndWatchOverHub(t *testing.T) {
	e := newEnv(t, live.Config{})
	e.groups.set("g:1", "host", qun.RoleMember)
	e.groups.set("g:1", "v1", qun.RoleMember)
	e.groups.set("g:1", "v2", qun.RoleMember)

	hostC := e.Connect(t, "t1", "host")
	info := startLive(t, hostC, "g:1")
	if info.State != live.StateLive || info.Room != live.Room(info.ID) || info.Group != "g:1" {
		t.Fatalf("info %+v", info)
	}
	host := peer.NewHubPeer(hostC, e.api, info.ID)
	t.Cleanup(host.Close)
	if _, err := host.Join(nil); err != nil {
		t.Fatal(err)
	}
	// Bad offers are refused with a reason and leave the connection usable.
	for _, bad := range []string{"garbage", unknownCodecOffer, tooManyTracksOffer} {
		e := qtest.CallErr(t, hostC, "live.offer", map[string]any{"live": info.ID, "sdp": bad}, qun.CodeInvalid)
		if e.Field != "sdp" || e.Message == "" {
			t.Fatalf("bad offer error %+v", e)
		}
	}
	qtest.CallErr(t, hostC, "live.offer", map[string]any{"live": info.ID, "sdp": "v=0", "sources": map[string]string{"x": "hologram"}}, qun.CodeInvalid)
	if _, err := host.Publish(peer.PublisherOptions{Audio: true, Video: true, VideoBitrate: 400_000}, nil); err != nil {
		t.Fatal(err)
	}

	var viewers []*peer.Viewer
	for _, u := range []string{"v1", "v2"} {
		h := e.peer(t, u, info.ID)
		var jr struct {
			Tracks []live.TrackView `json:"tracks"`
			Head   uint64           `json:"head"`
		}
		v, err := h.Join(&jr)
		if err != nil {
			t.Fatal(err)
		}
		viewers = append(viewers, v)
		ev := nextEvent(t, h, "live.joined")
		if ev.Actor != qun.UserID(u) {
			t.Fatalf("joined actor %s", ev.Actor)
		}
	}
	for _, v := range viewers {
		st := waitMedia(t, v, 2, 30)
		for id, s := range st {
			if s.Jumps != 0 {
				t.Errorf("track %s: %+v", id, s)
			}
		}
	}
	// Pausing stops the media for everyone; resuming brings it back.
	qtest.Call(t, hostC, "live.pause", map[string]any{"live": info.ID}, nil)
	time.Sleep(300 * time.Millisecond)
	before := viewers[0].Stats()
	time.Sleep(500 * time.Millisecond)
	if after := viewers[0].Stats(); maxPackets(after) != maxPackets(before) {
		t.Fatalf("paused live still forwarded: %v -> %v", before, after)
	}
	qtest.Call(t, hostC, "live.resume", map[string]any{"live": info.ID}, nil)
	waitMore(t, viewers[0], before, 20)

	var got live.Info
	qtest.Call(t, hostC, "live.get", map[string]any{"live": info.ID}, &got)
	if got.Viewers != 3 || len(got.Tracks) != 2 {
		t.Fatalf("get: %+v", got)
	}
	kinds := map[string]live.Source{}
	for _, tr := range got.Tracks {
		kinds[tr.Kind] = tr.Source
		if tr.User != "host" {
			t.Errorf("track user %s", tr.User)
		}
	}
	if kinds["audio"] != live.SourceMicrophone || kinds["video"] != live.SourceCamera {
		t.Errorf("sources %v", kinds)
	}
}

func TestAccess(t *testing.T) {
	e := newEnv(t, live.Config{CanStart: func(_ context.Context, _ *qun.Identity, g qun.RoomID) error {
		if g == "g:closed" {
			return qun.Errorf(qun.CodeForbidden, "this group does not allow lives")
		}
		return nil
	}})
	e.groups.set("g:1", "host", qun.RoleMember)
	e.groups.set("g:1", "admin", qun.RoleModerator)
	e.groups.set("g:1", "viewer", qun.RoleViewer)
	e.groups.set("g:closed", "host", qun.RoleOwner)
	e.groups.set("g:2", "other", qun.RoleMember)

	hostC := e.Connect(t, "t1", "host")
	viewerC := e.Connect(t, "t1", "viewer")
	otherC := e.Connect(t, "t1", "other")
	adminC := e.Connect(t, "t1", "admin")
	foreign := e.Connect(t, "t2", "host")

	qtest.CallErr(t, viewerC, "live.start", map[string]any{"group": "g:1"}, qun.CodeForbidden)
	qtest.CallErr(t, otherC, "live.start", map[string]any{"group": "g:1"}, qun.CodeNotFound)
	qtest.CallErr(t, hostC, "live.start", map[string]any{"group": "g:closed"}, qun.CodeForbidden)
	qtest.CallErr(t, hostC, "live.start", map[string]any{"group": "g:1", "mode": "huge"}, qun.CodeInvalid)
	info := startLive(t, hostC, "g:1")

	// Roles in the live's room.
	qtest.Call(t, viewerC, "sub", map[string]any{"room": info.Room}, nil)
	qtest.CallErr(t, otherC, "sub", map[string]any{"room": info.Room}, qun.CodeNotFound)
	qtest.CallErr(t, foreign, "sub", map[string]any{"room": info.Room}, qun.CodeNotFound)
	qtest.CallErr(t, otherC, "live.join", map[string]any{"live": info.ID}, qun.CodeNotFound)
	qtest.CallErr(t, viewerC, "live.pause", map[string]any{"live": info.ID}, qun.CodeForbidden)
	qtest.Call(t, adminC, "live.pause", map[string]any{"live": info.ID}, nil)
	qtest.Call(t, hostC, "live.resume", map[string]any{"live": info.ID}, nil)

	// Relay into g:2 by the host: g:2's members may watch and see a card.
	e.groups.set("g:2", "host", qun.RoleMember)
	qtest.Call(t, otherC, "sub", map[string]any{"room": "g:2"}, nil)
	qtest.Call(t, hostC, "live.share", map[string]any{"live": info.ID, "group": "g:2"}, nil)
	card := qtest.NextEvent(t, otherC, "live.card")
	var cd struct{ Live string }
	_ = json.Unmarshal(card.D, &cd)
	if cd.Live != info.ID {
		t.Fatalf("card %s", card.D)
	}
	qtest.Call(t, otherC, "sub", map[string]any{"room": info.Room}, nil)
	var lst struct{ Lives []live.Record }
	qtest.Call(t, otherC, "live.list", map[string]any{"group": "g:2"}, &lst)
	if len(lst.Lives) != 1 || lst.Lives[0].ID != info.ID {
		t.Fatalf("list %+v", lst)
	}

	// Bad signalling input is refused without disturbing anything.
	qtest.CallErr(t, viewerC, "live.offer", map[string]any{"live": info.ID, "sdp": "v=0"}, qun.CodeNotFound) // not joined
	qtest.Call(t, viewerC, "live.join", map[string]any{"live": info.ID}, nil)
	qtest.CallErr(t, viewerC, "live.offer", map[string]any{"live": info.ID, "sdp": "v=0"}, qun.CodeForbidden) // no publish right
	qtest.Call(t, hostC, "live.join", map[string]any{"live": info.ID}, nil)
	qtest.CallErr(t, hostC, "live.offer", map[string]any{"live": info.ID, "sdp": "garbage"}, qun.CodeInvalid)
	qtest.CallErr(t, hostC, "live.offer", map[string]any{"live": info.ID, "sdp": unknownCodecOffer}, qun.CodeInvalid)
	qtest.CallErr(t, hostC, "live.answer", map[string]any{"live": info.ID, "sdp": "v=0"}, qun.CodeConflict)
	qtest.CallErr(t, hostC, "live.candidate", map[string]any{"live": info.ID, "pc": "x", "candidate": map[string]any{}}, qun.CodeInvalid)

	qtest.Call(t, hostC, "live.end", map[string]any{"live": info.ID}, nil)
	qtest.CallErr(t, viewerC, "live.join", map[string]any{"live": info.ID}, qun.CodeConflict)
}

// tooManyTracksOffer sends five video sections (the limit is four).
var tooManyTracksOffer = "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\n" + strings.Repeat(
	"m=video 9 UDP/TLS/RTP/SAVPF 96\r\nc=IN IP4 0.0.0.0\r\na=sendonly\r\na=rtpmap:96 VP8/90000\r\n", 5)

// unknownCodecOffer sends video in a codec the SFU does not know.
const unknownCodecOffer = "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\n" +
	"m=video 9 UDP/TLS/RTP/SAVPF 98\r\nc=IN IP4 0.0.0.0\r\na=mid:0\r\na=sendonly\r\na=rtpmap:98 XYZ/90000\r\n"
