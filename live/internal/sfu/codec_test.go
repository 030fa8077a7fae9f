package sfu

import (
	"strings"
	"testing"
)

func TestCheckOffer(t *testing.T) {
	head := "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\n"
	video := func(dir, codec string) string {
		return "m=video 9 UDP/TLS/RTP/SAVPF 96\r\nc=IN IP4 0.0.0.0\r\na=" + dir + "\r\na=rtpmap:96 " + codec + "/90000\r\n"
	}
	cases := []struct {
		name, sdp, want string
	}{
		{"ok", head + video("sendonly", "VP8") + video("sendonly", "H264"), ""},
		{"malformed", "hello", "malformed SDP"},
		{"unknown codec", head + video("sendonly", "XYZ"), "no supported codec"},
		{"unknown codec but receive only", head + video("recvonly", "XYZ"), ""},
		{"too many", head + strings.Repeat(video("sendrecv", "VP8"), 5), "too many tracks"},
		{"bad media", head + "m=text 9 UDP/TLS/RTP/SAVPF 96\r\n", "unsupported media"},
	}
	for _, c := range cases {
		err := checkOffer(c.sdp, 4)
		switch {
		case c.want == "" && err != nil:
			t.Errorf("%s: %v", c.name, err)
		case c.want != "" && (err == nil || !strings.Contains(err.Error(), c.want)):
			t.Errorf("%s: got %v, want %q", c.name, err, c.want)
		}
	}
}

func TestKeyframeDetection(t *testing.T) {
	cases := []struct {
		ck   codecKind
		p    []byte
		want bool
	}{
		{codecVP8, []byte{0x10, 0x00}, true},                         // S, PID 0, P=0
		{codecVP8, []byte{0x10, 0x01}, false},                        // inter frame
		{codecVP8, []byte{0x00, 0x00}, false},                        // not a start
		{codecVP8, []byte{0x90, 0x80, 0x81, 0x23, 0x00}, true},       // X, I, 15-bit picture id
		{codecVP8, []byte{0x90, 0xe0, 0x05, 0x07, 0x20, 0x00}, true}, // X, I, L, T
		{codecH264, []byte{0x65}, true},                              // IDR
		{codecH264, []byte{0x41}, false},                             // non-IDR slice
		{codecH264, []byte{0x78, 0x00, 0x02, 0x67, 0x42}, true},      // STAP-A with SPS
		{codecH264, []byte{0x7c, 0x85}, true},                        // FU-A start of IDR
		{codecH264, []byte{0x7c, 0x05}, false},                       // FU-A continuation
		{codecOpus, []byte{0x10, 0x00}, false},
	}
	for i, c := range cases {
		if got := isKeyframeStart(c.ck, c.p); got != c.want {
			t.Errorf("case %d % x: got %v", i, c.p, got)
		}
	}
}
