package replay

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/qunkit/qun"
)

type httpResp struct {
	status int
	body   []byte
	header http.Header
}

func (r httpResp) errCode() qun.Code {
	var e struct{ Err qun.Error }
	_ = json.Unmarshal(r.body, &e)
	return e.Err.Code
}

// do sends a request to the test server; tok goes in the Authorization
// header unless it is put in the path's query by the caller.
func (te *testEnv) do(t *testing.T, method, path, tok string, hdr map[string]string, body string) httpResp {
	t.Helper()
	req, err := http.NewRequest(method, te.Server.URL+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if tok != "" {
		req.Header.Set("Authorization", "Bearer "+tok)
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := te.Server.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return httpResp{status: resp.StatusCode, body: b, header: resp.Header}
}

func (te *testEnv) expect(t *testing.T, method, path, tok string, status int, code qun.Code) httpResp {
	t.Helper()
	r := te.do(t, method, path, tok, nil, "")
	if r.status != status || (code != "" && r.errCode() != code) {
		t.Fatalf("%s %s: %d %s, want %d %s", method, path, r.status, r.body, status, code)
	}
	return r
}

// shortReplay records 3 s of VP8 and Opus in ten1's live:l1 (group g:1),
// with one chat event, and returns the pending replay.
func shortReplay(t *testing.T, te *testEnv, tenant qun.TenantID) *Replay {
	t.Helper()
	tracks := []*simTrack{simVideo(t, "vp8", "host", 0, 3*time.Second), simAudio(t, "host", 0, 3*time.Second)}
	items, _ := schedule(tracks)
	once := false
	return te.record(t, tenant, "live:l1", "g:1", tracks, items, 3*time.Second, func(at time.Duration) {
		if !once && at > time.Second {
			once = true
			if _, err := te.Hub.Publish(context.Background(), qun.RoomRef{Tenant: tenant, Room: "g:1"}, qun.Draft{Type: "chat.msg", Actor: "v1", Data: map[string]string{"text": "hi"}}); err != nil {
				t.Fatal(err)
			}
		}
	})
}

func setRoles(te *testEnv) {
	for _, tenant := range []qun.TenantID{"ten1", "ten2"} {
		te.roles.set(tenant, "live:l1", "host", qun.RoleOwner)
		te.roles.set(tenant, "g:1", "host", qun.RoleMember)
		te.roles.set(tenant, "g:1", "v1", qun.RoleViewer)
		te.roles.set(tenant, "g:1", "mod", qun.RoleModerator)
	}
}

func TestHTTPPlayback(t *testing.T) {
	te := newTestEnv(t, nil)
	setRoles(te)
	r := shortReplay(t, te, "ten1")
	host, viewer, mod, stranger := te.Token(t, "ten1", "host"), te.Token(t, "ten1", "v1"), te.Token(t, "ten1", "mod"), te.Token(t, "ten1", "stranger")
	base := "/replays/" + r.ID

	te.expect(t, "GET", base, "", 401, qun.CodeUnauthenticated)
	te.expect(t, "GET", base, "not-a-token", 401, qun.CodeUnauthenticated)
	// Pending: only hosts see it.
	te.expect(t, "GET", base, viewer, 403, qun.CodeForbidden)
	te.expect(t, "GET", base, stranger, 404, qun.CodeNotFound)
	var m Manifest
	if err := json.Unmarshal(te.expect(t, "GET", base, host, 200, "").body, &m); err != nil {
		t.Fatal(err)
	}
	if m.State != StatePending || !m.CanDecide || len(m.Tracks) != 2 || m.Tracks[0].URL != base+"/tracks/t1" || m.Timeline != base+"/timeline" {
		t.Fatalf("manifest %+v", m)
	}
	if bytes.Contains(te.do(t, "GET", base, host, nil, "").body, []byte(`"key"`)) {
		t.Fatal("manifest reveals storage keys")
	}
	te.expect(t, "POST", base+"/keep", viewer, 403, qun.CodeForbidden)
	te.expect(t, "POST", base+"/discard", viewer, 403, qun.CodeForbidden)
	// A group moderator decides too.
	if got := te.do(t, "POST", base+"/keep", mod, nil, `{}`); got.status != 200 {
		t.Fatalf("keep by moderator: %d %s", got.status, got.body)
	}
	if err := json.Unmarshal(te.expect(t, "GET", base, viewer, 200, "").body, &m); err != nil || m.State != StateKept || m.CanDecide {
		t.Fatalf("viewer manifest %+v %v", m, err)
	}

	// Media, with the token in the query as a <video src> sends it.
	track := m.Tracks[0]
	file, err := os.ReadFile(te.path(r.Tracks[0].Key))
	if err != nil {
		t.Fatal(err)
	}
	got := te.expect(t, "GET", track.URL+"?token="+viewer, "", 200, "")
	if !bytes.Equal(got.body, file) || got.header.Get("Content-Type") != "video/webm" || got.header.Get("Accept-Ranges") != "bytes" {
		t.Fatalf("media: %d bytes (file %d), type %q", len(got.body), len(file), got.header.Get("Content-Type"))
	}
	head := te.expect(t, "HEAD", track.URL, viewer, 200, "")
	if head.header.Get("Content-Length") != strconv.Itoa(len(file)) {
		t.Fatalf("HEAD length %s", head.header.Get("Content-Length"))
	}
	part := te.do(t, "GET", track.URL, viewer, map[string]string{"Range": "bytes=10-19"}, "")
	if part.status != 206 || !bytes.Equal(part.body, file[10:20]) || part.header.Get("Content-Range") != "bytes 10-19/"+strconv.Itoa(len(file)) {
		t.Fatalf("range: %d %q", part.status, part.header.Get("Content-Range"))
	}
	tail := te.do(t, "GET", track.URL, viewer, map[string]string{"Range": "bytes=-10"}, "")
	if tail.status != 206 || !bytes.Equal(tail.body, file[len(file)-10:]) {
		t.Fatalf("suffix range: %d", tail.status)
	}
	past := te.do(t, "GET", track.URL, viewer, map[string]string{"Range": "bytes=" + strconv.Itoa(len(file)) + "-"}, "")
	if past.status != 416 || past.errCode() != qun.CodeOutOfRange || past.header.Get("Content-Range") != "bytes */"+strconv.Itoa(len(file)) {
		t.Fatalf("range past the end: %d %s", past.status, past.body)
	}

	// Timeline windows.
	var page TimelinePage
	if err := json.Unmarshal(te.expect(t, "GET", m.Timeline+"?from=0&to=100000", viewer, 200, "").body, &page); err != nil || len(page.Events) != 1 || page.Events[0].Type != "chat.msg" {
		t.Fatalf("timeline %+v %v", page, err)
	}
	at := page.Events[0].At
	if err := json.Unmarshal(te.expect(t, "GET", m.Timeline+"?from="+strconv.FormatInt(at+1, 10), viewer, 200, "").body, &page); err != nil || len(page.Events) != 0 {
		t.Fatalf("timeline after the event: %+v", page)
	}
	te.expect(t, "GET", m.Timeline+"?from=abc", viewer, 400, qun.CodeInvalid)
	te.expect(t, "GET", m.Timeline+"?limit=5000", viewer, 400, qun.CodeInvalid)

	// Bad input.
	te.expect(t, "GET", "/replays/nope", viewer, 404, qun.CodeNotFound)
	te.expect(t, "GET", "/replays/nope/tracks/t1", viewer, 404, qun.CodeNotFound)
	te.expect(t, "GET", "/replays/nope/timeline", viewer, 404, qun.CodeNotFound)
	te.expect(t, "GET", base+"/tracks/t9", viewer, 404, qun.CodeNotFound)
	te.expect(t, "GET", base+"/what", viewer, 404, qun.CodeNotFound)
	te.expect(t, "DELETE", base, viewer, 404, qun.CodeNotFound)
	te.expect(t, "POST", base+"/keep?token="+host, "", 401, qun.CodeUnauthenticated) // query tokens are for GET only
	if got := te.do(t, "POST", base+"/keep", host, nil, `{"expiresAt":"2000-01-01T00:00:00Z"}`); got.status != 400 || got.errCode() != qun.CodeInvalid {
		t.Fatalf("keep with a past expiry: %d %s", got.status, got.body)
	}
	if got := te.do(t, "POST", base+"/keep", host, nil, `{"bogus":1}`); got.status != 400 {
		t.Fatalf("keep with an unknown field: %d %s", got.status, got.body)
	}

	// Listing.
	var list struct{ Replays []Manifest }
	if err := json.Unmarshal(te.expect(t, "GET", "/replays/?group=g:1", viewer, 200, "").body, &list); err != nil || len(list.Replays) != 1 || list.Replays[0].ID != r.ID {
		t.Fatalf("list %+v %v", list, err)
	}
	te.expect(t, "GET", "/replays/", viewer, 400, qun.CodeInvalid)
	te.expect(t, "GET", "/replays/?group=g:1", stranger, 403, qun.CodeForbidden)
}

// Another tenant never reaches a replay, on any route, even as its admin
// and with the same room names and roles.
func TestHTTPTenantIsolation(t *testing.T) {
	te := newTestEnv(t, nil)
	setRoles(te)
	r := shortReplay(t, te, "ten1")
	if _, err := te.svc.Keep(context.Background(), &qun.Identity{Tenant: "ten1", User: "host"}, r.ID, KeepOptions{}); err != nil {
		t.Fatal(err)
	}
	base := "/replays/" + r.ID
	for _, tok := range []string{te.Token(t, "ten2", "v1"), te.Token(t, "ten2", "host"), te.Token(t, "ten2", "boss", qun.GrantAdmin)} {
		for _, c := range []struct{ method, path string }{
			{"GET", base}, {"GET", base + "/tracks/t1"}, {"GET", base + "/timeline"},
			{"POST", base + "/keep"}, {"POST", base + "/discard"}, {"POST", base + "/stop"},
		} {
			te.expect(t, c.method, c.path, tok, 404, qun.CodeNotFound)
		}
		var list struct{ Replays []Manifest }
		if err := json.Unmarshal(te.expect(t, "GET", "/replays/?group=g:1", tok, 200, "").body, &list); err != nil || len(list.Replays) != 0 {
			t.Fatalf("another tenant lists %+v", list)
		}
	}
	// The same user name in ten1 does see it.
	te.expect(t, "GET", base, te.Token(t, "ten1", "v1"), 200, "")
}

func TestLifecycle(t *testing.T) {
	te := newTestEnv(t, func(c *Config) { c.DecideWithin = time.Hour; c.Retention = 24 * time.Hour })
	setRoles(te)
	ctx := context.Background()
	host := &qun.Identity{Tenant: "ten1", User: "host"}
	viewer := te.Token(t, "ten1", "v1")
	files := func(r *Replay) []string {
		var out []string
		for _, tr := range r.Tracks {
			out = append(out, te.path(tr.Key))
		}
		return append(out, te.path(r.TimelineKey))
	}
	gone := func(r *Replay) {
		t.Helper()
		for _, f := range files(r) {
			if _, err := os.Stat(f); !os.IsNotExist(err) {
				t.Fatalf("%s still exists", f)
			}
		}
	}

	// Recording: hosts see it, nobody gets media, it cannot be kept yet.
	rec, err := te.svc.Start(ctx, StartOptions{Tenant: "ten1", Live: "live:l9", Group: "g:1", Host: "host"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := te.svc.Start(ctx, StartOptions{Tenant: "ten1", Live: "live:l9", Host: "host"}); qun.ErrorCode(err) != qun.CodeConflict {
		t.Fatalf("second recording of a live: %v", err)
	}
	te.expect(t, "GET", "/replays/"+rec.ID, te.Token(t, "ten1", "host"), 200, "")
	te.expect(t, "GET", "/replays/"+rec.ID+"/timeline", te.Token(t, "ten1", "host"), 409, qun.CodeConflict)
	te.expect(t, "GET", "/replays/"+rec.ID, viewer, 403, qun.CodeForbidden)
	if _, err := te.svc.Keep(ctx, host, rec.ID, KeepOptions{}); qun.ErrorCode(err) != qun.CodeConflict {
		t.Fatalf("keep while recording: %v", err)
	}
	if _, err := te.svc.Stop(ctx, "ten1", rec.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := te.svc.Stop(ctx, "ten1", rec.ID); qun.ErrorCode(err) != qun.CodeConflict {
		t.Fatalf("second stop: %v", err)
	}

	// Discarded by the host: files gone, the id answers clearly.
	r := shortReplay(t, te, "ten1")
	if _, err := te.svc.Discard(ctx, host, r.ID); err != nil {
		t.Fatal(err)
	}
	gone(r)
	if got := te.expect(t, "GET", "/replays/"+r.ID, viewer, 404, qun.CodeNotFound); !bytes.Contains(got.body, []byte("discarded")) {
		t.Fatalf("discarded: %s", got.body)
	}
	te.expect(t, "GET", "/replays/"+r.ID+"/tracks/t1", viewer, 404, qun.CodeNotFound)
	if _, err := te.svc.Keep(ctx, host, r.ID, KeepOptions{}); qun.ErrorCode(err) != qun.CodeNotFound {
		t.Fatalf("keep after discard: %v", err)
	}

	// Kept with an expiry: it plays until then, then expires and is purged.
	r = shortReplay(t, te, "ten1")
	if _, err := te.svc.Keep(ctx, host, r.ID, KeepOptions{ExpiresAt: te.clock.Now().Add(48 * time.Hour)}); qun.ErrorCode(err) != qun.CodeInvalid {
		t.Fatalf("keep beyond retention: %v", err)
	}
	if _, err := te.svc.Keep(ctx, host, r.ID, KeepOptions{ExpiresAt: te.clock.Now().Add(2 * time.Hour)}); err != nil {
		t.Fatal(err)
	}
	te.clock.Advance(time.Hour)
	if err := te.svc.Sweep(ctx); err != nil {
		t.Fatal(err)
	}
	te.expect(t, "GET", "/replays/"+r.ID+"/tracks/t1", viewer, 200, "")
	te.clock.Advance(2 * time.Hour)
	if err := te.svc.Sweep(ctx); err != nil {
		t.Fatal(err)
	}
	te.expect(t, "GET", "/replays/"+r.ID, viewer, 410, qun.CodeExpired)
	te.expect(t, "GET", "/replays/"+r.ID+"/tracks/t1", viewer, 410, qun.CodeExpired)
	te.expect(t, "GET", "/replays/"+r.ID+"/timeline", viewer, 410, qun.CodeExpired)
	gone(r)
	got, err := te.svc.store.Get(ctx, "ten1", r.ID)
	if err != nil || got.State != StateExpired || !got.Purged {
		t.Fatalf("expired replay %+v %v", got, err)
	}

	// Undecided past its deadline: discarded, never published.
	r = shortReplay(t, te, "ten1")
	te.clock.Advance(59 * time.Minute)
	if err := te.svc.Sweep(ctx); err != nil {
		t.Fatal(err)
	}
	if got, _ := te.svc.store.Get(ctx, "ten1", r.ID); got.State != StatePending {
		t.Fatalf("swept early: %s", got.State)
	}
	te.clock.Advance(2 * time.Minute)
	if err := te.svc.Sweep(ctx); err != nil {
		t.Fatal(err)
	}
	if got, _ := te.svc.store.Get(ctx, "ten1", r.ID); got.State != StateDiscarded || !got.Purged {
		t.Fatalf("undecided replay: %s purged=%v", got.State, got.Purged)
	}
	gone(r)
}

// A live that refuses the recorder leaves no replay to play.
func TestStartRefused(t *testing.T) {
	te := newTestEnv(t, nil)
	te.lives.refuse = qun.Errorf(qun.CodeConflict, "the live is not on air")
	_, err := te.svc.Start(context.Background(), StartOptions{Tenant: "ten1", Live: "live:l1", Host: "host"})
	if qun.ErrorCode(err) != qun.CodeConflict {
		t.Fatalf("start: %v", err)
	}
	if _, err := te.svc.Start(context.Background(), StartOptions{Tenant: "ten1", Host: "host"}); qun.ErrorCode(err) != qun.CodeInvalid {
		t.Fatalf("start without live: %v", err)
	}
}
