// Package livepeer holds pion client peers for tests and the load tool: a
// publisher that sends generated VP8 (optionally simulcast) and Opus
// packets, and a viewer that counts what it receives. They stand in for
// browsers and are not part of qun's API.
package livepeer

import (
	"encoding/binary"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/ice/v2"
	"github.com/pion/interceptor"
	"github.com/pion/interceptor/pkg/nack"
	"github.com/pion/interceptor/pkg/report"
	"github.com/pion/rtcp"
	"github.com/pion/rtp"
	"github.com/pion/sdp/v3"
	"github.com/pion/transport/v2"
	"github.com/pion/webrtc/v3"
)

// APIOptions configure a client API.
type APIOptions struct {
	Net             transport.Net // nil: the OS network
	IncludeLoopback bool
	// NoNACK leaves out the NACK generator (a viewer that never asks for
	// retransmissions).
	NoNACK bool
	// Conn, if set, carries every peer connection of the API (ICE UDP
	// mux), so that a test can cut a peer off the network by wrapping it.
	Conn net.PacketConn
}

// NewAPI returns a pion API with VP8/Opus, simulcast header extensions,
// NACK generation and RTCP reports, as a browser would have.
func NewAPI(o APIOptions) (*webrtc.API, error) {
	m := &webrtc.MediaEngine{}
	fb := []webrtc.RTCPFeedback{{Type: "nack"}, {Type: "nack", Parameter: "pli"}, {Type: "ccm", Parameter: "fir"}}
	if err := m.RegisterCodec(webrtc.RTPCodecParameters{RTPCodecCapability: webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeVP8, ClockRate: 90000, RTCPFeedback: fb}, PayloadType: 96}, webrtc.RTPCodecTypeVideo); err != nil {
		return nil, err
	}
	if err := m.RegisterCodec(webrtc.RTPCodecParameters{RTPCodecCapability: webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeOpus, ClockRate: 48000, Channels: 2, SDPFmtpLine: "minptime=10;useinbandfec=1"}, PayloadType: 111}, webrtc.RTPCodecTypeAudio); err != nil {
		return nil, err
	}
	if err := webrtc.ConfigureSimulcastExtensionHeaders(m); err != nil {
		return nil, err
	}
	if err := m.RegisterHeaderExtension(webrtc.RTPHeaderExtensionCapability{URI: sdp.AudioLevelURI}, webrtc.RTPCodecTypeAudio); err != nil {
		return nil, err
	}
	ir := &interceptor.Registry{}
	if !o.NoNACK {
		g, err := nack.NewGeneratorInterceptor(nack.GeneratorInterval(20 * time.Millisecond))
		if err != nil {
			return nil, err
		}
		ir.Add(g)
	}
	rr, err := report.NewReceiverInterceptor(report.ReceiverInterval(500 * time.Millisecond))
	if err != nil {
		return nil, err
	}
	ir.Add(rr)
	sr, err := report.NewSenderInterceptor()
	if err != nil {
		return nil, err
	}
	ir.Add(sr)
	se := webrtc.SettingEngine{}
	se.SetICEMulticastDNSMode(ice.MulticastDNSModeDisabled)
	se.SetIncludeLoopbackCandidate(o.IncludeLoopback)
	se.SetNetworkTypes([]webrtc.NetworkType{webrtc.NetworkTypeUDP4})
	if o.Net != nil {
		se.SetNet(o.Net)
	}
	if o.Conn != nil {
		se.SetICEUDPMux(webrtc.NewICEUDPMux(nil, o.Conn))
	}
	return webrtc.NewAPI(webrtc.WithMediaEngine(m), webrtc.WithInterceptorRegistry(ir), webrtc.WithSettingEngine(se)), nil
}

// stampSize is the send time (unix nanos) the publisher puts at the end of
// every payload, so viewers can measure forwarding latency.
const stampSize = 8

// SentAt returns the send time stamped at the end of a generated payload.
func SentAt(payload []byte) time.Time {
	if len(payload) < stampSize {
		return time.Time{}
	}
	return time.Unix(0, int64(binary.BigEndian.Uint64(payload[len(payload)-stampSize:])))
}

// PublisherOptions shape the generated media.
type PublisherOptions struct {
	Audio bool
	Video bool
	// Simulcast sends three video layers (rids q, h, f) at 1/16, 1/4 and 1
	// of VideoBitrate.
	Simulcast bool
	// VideoBitrate in bit/s; zero means 1.5 Mbit/s.
	VideoBitrate int
	// StreamID names the client's stream; track ids are "audio" and "video".
	StreamID string
	// KeyframeEvery is the keyframe period. Zero means 2 s; negative means
	// only the first frame and frames after a PLI or FIR are keyframes, as
	// browsers do.
	KeyframeEvery time.Duration
}

// Publisher sends generated media over its own peer connection. The caller
// does the signalling with PC.
type Publisher struct {
	PC    *webrtc.PeerConnection
	opts  PublisherOptions
	audio *webrtc.TrackLocalStaticRTP
	video []*webrtc.TrackLocalStaticRTP
	vsend *webrtc.RTPSender
	asend *webrtc.RTPSender

	keyframe  [3]atomic.Bool // PLI received per layer
	PLIs      atomic.Uint64
	Keyframes atomic.Uint64 // video keyframes sent, all layers
	Sent      atomic.Uint64

	stop chan struct{}
	once sync.Once
	wg   sync.WaitGroup
}

// NewPublisher creates the peer connection and its tracks.
func NewPublisher(api *webrtc.API, o PublisherOptions) (*Publisher, error) {
	if o.VideoBitrate <= 0 {
		o.VideoBitrate = 1_500_000
	}
	if o.StreamID == "" {
		o.StreamID = "stream"
	}
	if o.KeyframeEvery == 0 {
		o.KeyframeEvery = 2 * time.Second
	}
	pc, err := api.NewPeerConnection(webrtc.Configuration{BundlePolicy: webrtc.BundlePolicyMaxBundle})
	if err != nil {
		return nil, err
	}
	p := &Publisher{PC: pc, opts: o, stop: make(chan struct{})}
	fail := func(err error) (*Publisher, error) { pc.Close(); return nil, err }
	if o.Audio {
		p.audio, err = webrtc.NewTrackLocalStaticRTP(webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeOpus, ClockRate: 48000, Channels: 2}, "audio", o.StreamID)
		if err != nil {
			return fail(err)
		}
		if p.asend, err = pc.AddTrack(p.audio); err != nil {
			return fail(err)
		}
	}
	if o.Video {
		rids := []string{""}
		if o.Simulcast {
			rids = []string{"q", "h", "f"}
		}
		for i, rid := range rids {
			var opts []func(*webrtc.TrackLocalStaticRTP)
			if rid != "" {
				opts = append(opts, webrtc.WithRTPStreamID(rid))
			}
			tr, err := webrtc.NewTrackLocalStaticRTP(webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeVP8, ClockRate: 90000}, "video", o.StreamID, opts...)
			if err != nil {
				return fail(err)
			}
			p.video = append(p.video, tr)
			if i == 0 {
				if p.vsend, err = pc.AddTrack(tr); err != nil {
					return fail(err)
				}
			} else if err := p.vsend.AddEncoding(tr); err != nil {
				return fail(err)
			}
		}
	}
	return p, nil
}

// Start sends media until Close: Opus-sized audio packets every 20 ms and
// 30 video frames per second per layer, a keyframe every KeyframeEvery or after a PLI.
func (p *Publisher) Start() {
	if p.asend != nil {
		p.wg.Add(2)
		go p.drain(p.asend)
		go p.sendAudio()
	}
	if p.vsend != nil {
		p.wg.Add(1)
		go p.drain(p.vsend)
		for i := range p.video {
			p.wg.Add(1)
			go p.sendVideo(i)
		}
	}
}

func (p *Publisher) drain(s *webrtc.RTPSender) {
	defer p.wg.Done()
	for {
		pkts, _, err := s.ReadRTCP()
		if err != nil {
			return
		}
		for _, pk := range pkts {
			var ssrc uint32
			switch pk := pk.(type) {
			case *rtcp.PictureLossIndication:
				ssrc = pk.MediaSSRC
			case *rtcp.FullIntraRequest:
				ssrc = pk.MediaSSRC
			default:
				continue
			}
			p.PLIs.Add(1)
			for i, enc := range s.GetParameters().Encodings {
				if uint32(enc.SSRC) == ssrc && i < len(p.keyframe) {
					p.keyframe[i].Store(true)
				}
			}
		}
	}
}

func (p *Publisher) extIDs() (mid, rid, level uint8, midValue string) {
	if p.vsend != nil {
		for _, e := range p.vsend.GetParameters().HeaderExtensions {
			switch e.URI {
			case sdp.SDESMidURI:
				mid = uint8(e.ID)
			case sdp.SDESRTPStreamIDURI:
				rid = uint8(e.ID)
			}
		}
		for _, t := range p.PC.GetTransceivers() {
			if t.Sender() == p.vsend {
				midValue = t.Mid()
			}
		}
	}
	if p.asend != nil {
		for _, e := range p.asend.GetParameters().HeaderExtensions {
			if e.URI == sdp.AudioLevelURI {
				level = uint8(e.ID)
			}
		}
	}
	return
}

func (p *Publisher) sendAudio() {
	defer p.wg.Done()
	_, _, levelID, _ := p.extIDs()
	t := time.NewTicker(20 * time.Millisecond)
	defer t.Stop()
	pkt := &rtp.Packet{Header: rtp.Header{Version: 2, PayloadType: 111}}
	payload := make([]byte, 80+stampSize)
	for i := 0; ; i++ {
		select {
		case <-p.stop:
			return
		case <-t.C:
		}
		pkt.SequenceNumber = uint16(i)
		pkt.Timestamp = uint32(i * 960)
		pkt.Extension = false
		pkt.Extensions = nil
		if levelID != 0 {
			// A loud speaker: 10 dBov below full scale, voice activity set.
			_ = pkt.SetExtension(levelID, []byte{0x80 | 10})
		}
		binary.BigEndian.PutUint64(payload[len(payload)-stampSize:], uint64(time.Now().UnixNano()))
		pkt.Payload = payload
		if p.audio.WriteRTP(pkt) == nil {
			p.Sent.Add(1)
		}
	}
}

func (p *Publisher) sendVideo(layer int) {
	defer p.wg.Done()
	midID, ridID, _, midValue := p.extIDs()
	track := p.video[layer]
	rate := p.opts.VideoBitrate
	if p.opts.Simulcast {
		rate = rate >> (2 * (len(p.video) - 1 - layer))
	}
	const fps = 30
	frameBytes := rate / 8 / fps
	const mtu = 1100
	t := time.NewTicker(time.Second / fps)
	defer t.Stop()
	pkt := &rtp.Packet{Header: rtp.Header{Version: 2, PayloadType: 96}}
	buf := make([]byte, mtu+16)
	var seq uint16
	lastKey := time.Time{}
	for frame := 0; ; frame++ {
		select {
		case <-p.stop:
			return
		case <-t.C:
		}
		key := p.keyframe[layer].Swap(false) || frame == 0 ||
			(p.opts.KeyframeEvery > 0 && time.Since(lastKey) > p.opts.KeyframeEvery)
		if key {
			lastKey = time.Now()
			p.Keyframes.Add(1)
		}
		n := frameBytes
		if key {
			n *= 3
		}
		for off := 0; off < n; off += mtu {
			size := min(mtu, n-off)
			size = max(size, 20)
			pl := buf[:size+stampSize]
			clear(pl)
			if off == 0 {
				pl[0] = 0x10 // S=1, PID=0: start of a frame
				if !key {
					pl[1] = 0x01 // P=1: inter frame
				}
			}
			binary.BigEndian.PutUint64(pl[len(pl)-stampSize:], uint64(time.Now().UnixNano()))
			pkt.Payload = pl
			pkt.SequenceNumber = seq
			seq++
			pkt.Timestamp = uint32(frame * 90000 / fps)
			pkt.Marker = off+mtu >= n
			pkt.Extension = false
			pkt.Extensions = nil
			if ridID != 0 && track.RID() != "" {
				_ = pkt.SetExtension(midID, []byte(midValue))
				_ = pkt.SetExtension(ridID, []byte(track.RID()))
			}
			if track.WriteRTP(pkt) == nil {
				p.Sent.Add(1)
			}
		}
	}
}

// Close stops sending and closes the peer connection. Idempotent.
func (p *Publisher) Close() {
	p.once.Do(func() {
		close(p.stop)
		_ = p.PC.Close()
		p.wg.Wait()
	})
}
