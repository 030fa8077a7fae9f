package replay

import (
	"context"
	"encoding/json"
	"net/http"
	"testing"
	"time"

	"github.com/qunkit/qun"
	"github.com/qunkit/qun/internal/browser"
)

// probePage plays each track of a replay in a media element, as a replay
// page does, and reports what the browser makes of it: duration, whether a
// seek to the middle lands, whether playback advances.
const probePage = `<!doctype html><meta charset=utf-8><body><script>
async function probe(manifestURL, token) {
  const m = await (await fetch(manifestURL, {headers: {Authorization: 'Bearer ' + token}})).json();
  const out = [];
  for (const t of m.tracks) {
    const el = document.createElement(t.kind === 'video' ? 'video' : 'audio');
    el.muted = true;
    el.preload = 'auto';
    document.body.appendChild(el);
    const r = {id: t.id, codec: t.codec, canPlay: el.canPlayType(t.mimeType)};
    try {
      await new Promise((ok, fail) => { el.onloadedmetadata = ok; el.onerror = () => fail(new Error('media error ' + (el.error && el.error.code))); el.src = t.url + '?token=' + token; });
      r.duration = el.duration;
      if (t.kind === 'video') { r.width = el.videoWidth; r.height = el.videoHeight; }
      const target = el.duration / 2;
      await new Promise((ok, fail) => { el.onseeked = ok; el.onerror = () => fail(new Error('seek error')); el.currentTime = target; });
      r.seekedTo = el.currentTime;
      await el.play();
      const from = el.currentTime;
      await new Promise(ok => setTimeout(ok, 700));
      r.advanced = el.currentTime - from;
      el.pause();
    } catch (e) { r.error = String(e); }
    out.push(r);
  }
  return out;
}
</script>`

// The recorded files play in a real browser (Chromium): each track loads,
// reports the recorded duration, seeks to its middle and plays on.
func TestReplayPlaysInChromium(t *testing.T) {
	needFFmpeg(t)
	b := browser.Launch(t)
	te := newTestEnv(t, nil)
	te.Mux.HandleFunc("/probe", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		_, _ = w.Write([]byte(probePage))
	})
	tracks := []*simTrack{
		simVideo(t, "vp8", "host", 0, 6*time.Second),
		simAudio(t, "host", 0, 6*time.Second),
		simVideo(t, "h264", "cohost", time.Second, 6*time.Second),
		simVideo(t, "vp9", "guest", time.Second, 6*time.Second),
	}
	items, _ := schedule(tracks)
	r := te.record(t, "ten1", "live:l1", "g:1", tracks, items, 6*time.Second, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if _, err := te.svc.Keep(ctx, &qun.Identity{Tenant: "ten1", User: "host"}, r.ID, KeepOptions{}); err != nil {
		t.Fatal(err)
	}
	page, err := b.NewPage(ctx, "replay-probe", te.Server.URL+"/probe")
	if err != nil {
		t.Fatal(err)
	}
	var res []struct {
		ID       string
		Codec    string
		CanPlay  string
		Duration float64
		Width    int
		Height   int
		SeekedTo float64
		Advanced float64
		Error    string
	}
	tok, _ := json.Marshal(te.Token(t, "ten1", "host"))
	if err := page.Eval(ctx, `probe("/replays/`+r.ID+`", `+string(tok)+`)`, &res); err != nil {
		t.Fatalf("probe: %v; console: %v", err, page.Console())
	}
	if len(res) != len(r.Tracks) {
		t.Fatalf("probed %d tracks of %d", len(res), len(r.Tracks))
	}
	for i, got := range res {
		tr := r.Tracks[i]
		t.Logf("%s %s: %+v", tr.ID, tr.Codec, got)
		want := time.Duration(tr.DurationMs) * time.Millisecond
		d := time.Duration(got.Duration * float64(time.Second))
		if got.Error != "" || got.CanPlay == "" || !within(d, want, 200*time.Millisecond) ||
			!within(time.Duration(got.SeekedTo*float64(time.Second)), want/2, 300*time.Millisecond) || got.Advanced < 0.2 {
			t.Errorf("track %s (%s): %+v; recorded %v", tr.ID, tr.Codec, got, want)
		}
		if tr.Kind == "video" && (got.Width != 320 || got.Height != 240) {
			t.Errorf("track %s: %d×%d", tr.ID, got.Width, got.Height)
		}
	}
}
