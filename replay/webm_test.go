package replay

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// writeWebM writes frames through webmWriter into dir/name and returns the
// path; abort leaves it unfinalised, as a crash would.
func writeWebM(t *testing.T, dir, name string, tr webmTrack, frames []srcFrame, key func(srcFrame) bool, abort bool) string {
	t.Helper()
	st, err := NewFSStorage(dir)
	if err != nil {
		t.Fatal(err)
	}
	f, err := st.Create(context.Background(), name)
	if err != nil {
		t.Fatal(err)
	}
	w, err := newWebMWriter(f, tr)
	if err != nil {
		t.Fatal(err)
	}
	for _, fr := range frames {
		if err := w.WriteFrame(fr.at, key(fr), fr.data); err != nil {
			t.Fatal(err)
		}
	}
	if abort {
		// A crash loses the cluster still in memory, nothing else.
		err = w.Abort()
	} else {
		err = w.Close()
	}
	if err != nil {
		t.Fatal(err)
	}
	return filepath.Join(dir, name)
}

func vp8Key(f srcFrame) bool { return f.data[0]&1 == 0 }

func TestWebMWriterVP8AndOpus(t *testing.T) {
	dir := t.TempDir()
	vp8 := readFrames(t, sourceMedia(t, "vp8", 5))
	w, h, ok := vp8Size(vp8[0].data)
	if !ok || w != 320 || h != 240 {
		t.Fatalf("vp8Size = %d×%d %v", w, h, ok)
	}
	p := writeWebM(t, dir, "v.webm", webmTrack{Video: true, CodecID: "V_VP8", Width: w, Height: h}, vp8, vp8Key, false)
	pr := ffprobe(t, p)
	if len(pr.Streams) != 1 || pr.Streams[0].CodecName != "vp8" || pr.Streams[0].Width != 320 {
		t.Fatalf("probe: %+v", pr)
	}
	if !within(pr.duration(), 5*time.Second, 100*time.Millisecond) {
		t.Fatalf("duration %v", pr.duration())
	}
	if n := ffdecode(t, p); n != len(vp8) {
		t.Fatalf("decoded %d frames, wrote %d", n, len(vp8))
	}
	// The file is seekable: Cues exist and name keyframes.
	b, _ := os.ReadFile(p)
	if !bytes.Contains(b, appendID(nil, idCues)) {
		t.Fatal("no Cues")
	}
	n := 0
	if _, err := readWebMWith(bytes.NewReader(b), nil, func(ms int64, key bool, data []byte) error {
		if !bytes.Equal(data, vp8[n].data) || key != vp8Key(vp8[n]) {
			t.Fatalf("frame %d differs after round trip", n)
		}
		n++
		return nil
	}); err != nil || n != len(vp8) {
		t.Fatalf("readWebM: %d frames, %v", n, err)
	}

	opus := readFrames(t, sourceMedia(t, "opus", 5))
	p = writeWebM(t, dir, "a.webm", webmTrack{CodecID: "A_OPUS", CodecPrivate: opusHead(2), SampleRate: 48000, Channels: 2, SeekPreRoll: 80_000_000}, opus, func(srcFrame) bool { return true }, false)
	pr = ffprobe(t, p)
	if len(pr.Streams) != 1 || pr.Streams[0].CodecName != "opus" {
		t.Fatalf("probe: %+v", pr)
	}
	if !within(pr.duration(), 5*time.Second, 100*time.Millisecond) {
		t.Fatalf("duration %v", pr.duration())
	}
	ffdecode(t, p)
}

func TestWebMWriterAbortedIsPlayable(t *testing.T) {
	dir := t.TempDir()
	vp8 := readFrames(t, sourceMedia(t, "vp8", 5))
	p := writeWebM(t, dir, "v.webm", webmTrack{Video: true, CodecID: "V_VP8", Width: 320, Height: 240}, vp8, vp8Key, true)
	n := ffdecode(t, p)
	// Only the last cluster (≤ 2 s) may be lost.
	if n < len(vp8)-50 || n >= len(vp8) {
		t.Fatalf("decoded %d of %d frames", n, len(vp8))
	}
}
