package replay

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pion/webrtc/v3/pkg/media/h264reader"
	"github.com/pion/webrtc/v3/pkg/media/ivfreader"
	"github.com/pion/webrtc/v3/pkg/media/oggreader"
)

// needFFmpeg skips the test when ffmpeg/ffprobe are missing, except in CI
// (CI=true), where their absence is a failure.
func needFFmpeg(t testing.TB) {
	t.Helper()
	for _, bin := range []string{"ffmpeg", "ffprobe"} {
		if _, err := exec.LookPath(bin); err != nil {
			if os.Getenv("CI") == "true" {
				t.Fatalf("%s not found but CI=true: install the Debian package ffmpeg", bin)
			}
			t.Skipf("%s not found: install the Debian package ffmpeg to run this test", bin)
		}
	}
}

// mediaCache shares generated source media between tests of one run.
var mediaCache struct {
	sync.Mutex
	dir   string
	files map[string]string
}

// sourceMedia returns a file made by ffmpeg: kind is vp8, vp9, h264 or opus,
// secs its duration. Video is 320x240 at 25 fps with a keyframe every
// second; audio is a 48 kHz stereo sine in 20 ms Opus frames.
func sourceMedia(t testing.TB, kind string, secs int) string {
	t.Helper()
	needFFmpeg(t)
	mediaCache.Lock()
	defer mediaCache.Unlock()
	if mediaCache.files == nil {
		dir, err := os.MkdirTemp("", "qun-replay-media-")
		if err != nil {
			t.Fatal(err)
		}
		mediaCache.dir, mediaCache.files = dir, map[string]string{}
	}
	name := fmt.Sprintf("%s-%d", kind, secs)
	if p, ok := mediaCache.files[name]; ok {
		return p
	}
	d := strconv.Itoa(secs)
	src := []string{"-f", "lavfi", "-i", "testsrc=size=320x240:rate=25:duration=" + d}
	var args []string
	var p string
	switch kind {
	case "vp8":
		p = filepath.Join(mediaCache.dir, name+".ivf")
		args = append(src, "-c:v", "libvpx", "-g", "25", "-keyint_min", "25", "-b:v", "300k", "-deadline", "realtime", "-cpu-used", "8", p)
	case "vp8k": // frequent keyframes: a recorder joining mid-stream waits at most 0.2 s
		p = filepath.Join(mediaCache.dir, name+".ivf")
		args = append(src, "-c:v", "libvpx", "-g", "5", "-keyint_min", "5", "-b:v", "300k", "-deadline", "realtime", "-cpu-used", "8", p)
	case "vp9":
		p = filepath.Join(mediaCache.dir, name+".ivf")
		args = append(src, "-c:v", "libvpx-vp9", "-g", "25", "-keyint_min", "25", "-b:v", "300k", "-deadline", "realtime", "-cpu-used", "8", "-row-mt", "1", p)
	case "h264":
		p = filepath.Join(mediaCache.dir, name+".h264")
		args = append(src, "-pix_fmt", "yuv420p", "-c:v", "libx264", "-profile:v", "baseline", "-tune", "zerolatency", "-preset", "ultrafast", "-g", "25", "-bsf:v", "h264_mp4toannexb", "-f", "h264", p)
	case "opus":
		p = filepath.Join(mediaCache.dir, name+".ogg")
		args = []string{"-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000:duration=" + d, "-ac", "2", "-c:a", "libopus", "-frame_duration", "20", "-page_duration", "20000", "-b:a", "48k", p}
	default:
		t.Fatalf("unknown media kind %s", kind)
	}
	cmd := exec.Command("ffmpeg", append([]string{"-v", "error", "-y"}, args...)...)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("ffmpeg %s: %v\n%s", kind, err, out)
	}
	mediaCache.files[name] = p
	return p
}

// srcFrame is one encoded frame of a source file, with its presentation
// time from the file's start.
type srcFrame struct {
	at   time.Duration
	data []byte
}

// readFrames reads every frame of a file made by sourceMedia.
func readFrames(t testing.TB, path string) []srcFrame {
	t.Helper()
	out, err := loadFrames(path)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func loadFrames(path string) (out []srcFrame, err error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	switch filepath.Ext(path) {
	case ".ivf":
		r, h, err := ivfreader.NewWith(f)
		if err != nil {
			return nil, err
		}
		for {
			data, fh, err := r.ParseNextFrame()
			if errors.Is(err, io.EOF) {
				break
			} else if err != nil {
				return nil, err
			}
			at := time.Duration(fh.Timestamp) * time.Second * time.Duration(h.TimebaseNumerator) / time.Duration(h.TimebaseDenominator)
			out = append(out, srcFrame{at: at, data: data})
		}
	case ".ogg":
		r, _, err := oggreader.NewWith(f)
		if err != nil {
			return nil, err
		}
		var n time.Duration
		for {
			page, _, err := r.ParseNextPage()
			if errors.Is(err, io.EOF) {
				break
			} else if err != nil {
				return nil, err
			}
			if bytes.HasPrefix(page, []byte("OpusTags")) {
				continue
			}
			out = append(out, srcFrame{at: n * 20 * time.Millisecond, data: page})
			n++
		}
	case ".h264":
		r, err := h264reader.NewReader(f)
		if err != nil {
			return nil, err
		}
		// Group NALs into access units: a new one starts at each slice with
		// first_mb_in_slice == 0 (its first bit set), after SPS/PPS/SEI.
		var au []byte
		n := 0
		flush := func() {
			if len(au) > 0 {
				out = append(out, srcFrame{at: time.Duration(n) * 40 * time.Millisecond, data: au})
				n++
				au = nil
			}
		}
		inPicture := false
		for {
			nal, err := r.NextNAL()
			if errors.Is(err, io.EOF) {
				break
			} else if err != nil {
				return nil, err
			}
			typ := nal.Data[0] & 0x1f
			isSlice := typ == 1 || typ == 5
			if isSlice && len(nal.Data) > 1 && nal.Data[1]&0x80 != 0 && inPicture {
				flush()
			}
			if !isSlice && inPicture {
				flush()
				inPicture = false
			}
			if isSlice {
				inPicture = true
			}
			au = append(au, 0, 0, 0, 1)
			au = append(au, nal.Data...)
		}
		flush()
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("no frames in %s", path)
	}
	return out, nil
}

// probe is what ffprobe says about a file.
type probe struct {
	Format struct {
		Duration string `json:"duration"`
	} `json:"format"`
	Streams []struct {
		CodecName string `json:"codec_name"`
		CodecType string `json:"codec_type"`
		Width     int    `json:"width"`
		Height    int    `json:"height"`
		Duration  string `json:"duration"`
	} `json:"streams"`
}

func (p probe) duration() time.Duration {
	f, _ := strconv.ParseFloat(p.Format.Duration, 64)
	return time.Duration(f * float64(time.Second))
}

// ffprobe runs ffprobe on path and fails the test if it reports an error.
func ffprobe(t testing.TB, path string) probe {
	t.Helper()
	out, err := exec.Command("ffprobe", "-v", "error", "-of", "json", "-show_format", "-show_streams", path).Output()
	if err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			t.Fatalf("ffprobe %s: %v\n%s", path, err, ee.Stderr)
		}
		t.Fatalf("ffprobe %s: %v", path, err)
	}
	var p probe
	if err := json.Unmarshal(out, &p); err != nil {
		t.Fatalf("ffprobe output: %v", err)
	}
	return p
}

// ffdecode decodes path completely and fails the test on any decoder
// message at level error. It returns the number of decoded frames.
func ffdecode(t testing.TB, path string) int {
	t.Helper()
	cmd := exec.Command("ffmpeg", "-v", "error", "-nostats", "-i", path, "-f", "null", "-")
	out, err := cmd.CombinedOutput()
	if err != nil || len(bytes.TrimSpace(out)) > 0 {
		t.Fatalf("ffmpeg decode %s: %v\n%s", path, err, out)
	}
	return countFrames(t, path)
}

// countFrames returns the number of packets ffprobe reads from path.
func countFrames(t testing.TB, path string) int {
	t.Helper()
	out, err := exec.Command("ffprobe", "-v", "error", "-count_packets", "-show_entries", "stream=nb_read_packets", "-of", "csv=p=0", path).Output()
	if err != nil {
		t.Fatalf("ffprobe count %s: %v", path, err)
	}
	n, _ := strconv.Atoi(strings.TrimSpace(strings.Split(string(out), "\n")[0]))
	return n
}

// packetTimes returns the presentation times of path's packets.
func packetTimes(t testing.TB, path string) []time.Duration {
	t.Helper()
	out, err := exec.Command("ffprobe", "-v", "error", "-show_entries", "packet=pts_time", "-of", "csv=p=0", path).Output()
	if err != nil {
		t.Fatalf("ffprobe packets %s: %v", path, err)
	}
	var ts []time.Duration
	for _, l := range strings.Fields(string(out)) {
		f, err := strconv.ParseFloat(strings.TrimSuffix(l, ","), 64)
		if err == nil {
			ts = append(ts, time.Duration(f*float64(time.Second)))
		}
	}
	return ts
}

func within(got, want, tol time.Duration) bool {
	d := got - want
	return d <= tol && d >= -tol
}
