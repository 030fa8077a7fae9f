package sfu

import (
	"fmt"
	"strings"

	"github.com/pion/sdp/v3"
	"github.com/pion/webrtc/v3"
)

type codecKind uint8

const (
	codecOther codecKind = iota
	codecOpus
	codecVP8
	codecH264
)

func kindOfMime(mime string) codecKind {
	switch strings.ToLower(mime) {
	case strings.ToLower(webrtc.MimeTypeOpus):
		return codecOpus
	case strings.ToLower(webrtc.MimeTypeVP8):
		return codecVP8
	case strings.ToLower(webrtc.MimeTypeH264):
		return codecH264
	}
	return codecOther
}

// supportedCodecs are the codec names (rtpmap encoding names, lower case)
// the SFU forwards. Everything else in an offer is answered as rejected.
var supportedCodecs = map[string]bool{"opus": true, "vp8": true, "h264": true}

// registerCodecs fills m with the codecs and feedback the SFU speaks. pub
// selects the publisher side (TWCC feedback to the browser's sender-side
// estimator); the viewer side asks for REMB instead, which browsers compute
// on the receive side, so the server needs no per-viewer estimator.
func registerCodecs(m *webrtc.MediaEngine, pub bool) error {
	videoFB := []webrtc.RTCPFeedback{
		{Type: "nack"}, {Type: "nack", Parameter: "pli"}, {Type: "ccm", Parameter: "fir"},
	}
	var audioFB []webrtc.RTCPFeedback
	if pub {
		videoFB = append(videoFB, webrtc.RTCPFeedback{Type: webrtc.TypeRTCPFBTransportCC})
		audioFB = append(audioFB, webrtc.RTCPFeedback{Type: webrtc.TypeRTCPFBTransportCC})
	} else {
		videoFB = append(videoFB, webrtc.RTCPFeedback{Type: webrtc.TypeRTCPFBGoogREMB})
	}
	codecs := []struct {
		c webrtc.RTPCodecParameters
		t webrtc.RTPCodecType
	}{
		{webrtc.RTPCodecParameters{RTPCodecCapability: webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeOpus, ClockRate: 48000, Channels: 2, SDPFmtpLine: "minptime=10;useinbandfec=1", RTCPFeedback: audioFB}, PayloadType: 111}, webrtc.RTPCodecTypeAudio},
		{webrtc.RTPCodecParameters{RTPCodecCapability: webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeVP8, ClockRate: 90000, RTCPFeedback: videoFB}, PayloadType: 96}, webrtc.RTPCodecTypeVideo},
		{webrtc.RTPCodecParameters{RTPCodecCapability: webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeH264, ClockRate: 90000, SDPFmtpLine: "level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42e01f", RTCPFeedback: videoFB}, PayloadType: 102}, webrtc.RTPCodecTypeVideo},
		{webrtc.RTPCodecParameters{RTPCodecCapability: webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeH264, ClockRate: 90000, SDPFmtpLine: "level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42001f", RTCPFeedback: videoFB}, PayloadType: 104}, webrtc.RTPCodecTypeVideo},
	}
	for _, c := range codecs {
		if err := m.RegisterCodec(c.c, c.t); err != nil {
			return err
		}
	}
	if !pub {
		return nil
	}
	exts := []struct {
		uri string
		t   webrtc.RTPCodecType
	}{
		{sdp.AudioLevelURI, webrtc.RTPCodecTypeAudio},
		{sdp.TransportCCURI, webrtc.RTPCodecTypeAudio},
		{sdp.SDESMidURI, webrtc.RTPCodecTypeAudio},
		{sdp.TransportCCURI, webrtc.RTPCodecTypeVideo},
		{sdp.SDESMidURI, webrtc.RTPCodecTypeVideo},
		{sdp.SDESRTPStreamIDURI, webrtc.RTPCodecTypeVideo},
		{"urn:ietf:params:rtp-hdrext:sdes:repaired-rtp-stream-id", webrtc.RTPCodecTypeVideo},
	}
	for _, e := range exts {
		if err := m.RegisterHeaderExtension(webrtc.RTPHeaderExtensionCapability{URI: e.uri}, e.t); err != nil {
			return err
		}
	}
	return nil
}

// OfferError is an offer the SFU refuses, with a message for the client.
type OfferError struct{ Msg string }

func (e *OfferError) Error() string { return e.Msg }

func offerErr(format string, a ...any) error { return &OfferError{Msg: fmt.Sprintf(format, a...)} }

// checkOffer parses a publisher's offer before pion sees it, so that bad
// input is refused with a precise reason and the peer connection is left
// as it was: malformed SDP, too many sending media sections, media sections
// that offer no codec the SFU forwards.
func checkOffer(raw string, maxTracks int) error {
	var d sdp.SessionDescription
	if err := d.Unmarshal([]byte(raw)); err != nil {
		return offerErr("malformed SDP: %v", err)
	}
	sending := 0
	for i, m := range d.MediaDescriptions {
		kind := m.MediaName.Media
		if kind == "application" {
			continue
		}
		if kind != "audio" && kind != "video" {
			return offerErr("media section %d: unsupported media %q", i, kind)
		}
		if m.MediaName.Port.Value == 0 {
			continue // rejected/stopped section
		}
		dir := "sendrecv"
		for _, a := range m.Attributes {
			switch a.Key {
			case "sendrecv", "sendonly", "recvonly", "inactive":
				dir = a.Key
			}
		}
		if dir == "recvonly" || dir == "inactive" {
			continue
		}
		sending++
		ok := false
		for _, a := range m.Attributes {
			if a.Key != "rtpmap" {
				continue
			}
			// "96 VP8/90000"
			_, enc, _ := strings.Cut(a.Value, " ")
			name, _, _ := strings.Cut(enc, "/")
			if supportedCodecs[strings.ToLower(name)] {
				ok = true
				break
			}
		}
		if !ok {
			return offerErr("media section %d (%s): no supported codec (want opus, VP8 or H264)", i, kind)
		}
	}
	if sending > maxTracks {
		return offerErr("too many tracks: %d sending media sections, at most %d", sending, maxTracks)
	}
	return nil
}
