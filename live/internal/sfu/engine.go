// Package sfu forwards RTP between pion peer connections: publishers'
// tracks (with simulcast layers) fan out to one outgoing track per viewer,
// with sequence/timestamp rewriting, a per-layer NACK cache, throttled
// keyframe requests and per-viewer layer selection. It knows nothing about
// rooms, users or permissions: package live decides who publishes and who
// watches and drives this package.
package sfu

import (
	"errors"
	"fmt"
	"net"
	"strings"
	"sync"
	"time"

	"github.com/pion/dtls/v2"
	"github.com/pion/ice/v2"
	"github.com/pion/interceptor"
	"github.com/pion/interceptor/pkg/nack"
	"github.com/pion/interceptor/pkg/report"
	"github.com/pion/interceptor/pkg/twcc"
	"github.com/pion/transport/v2"
	"github.com/pion/webrtc/v3"
	"go.uber.org/zap"
)

// Config configures an Engine. Zero values are usable defaults.
type Config struct {
	// Logger receives the SFU's and pion's logs. Nil means zap.NewNop().
	Logger *zap.Logger
	// UDPPort, if > 0, makes every peer connection share this one UDP port
	// (ICE UDP mux), for hosts that open a single port. Zero means each peer
	// connection uses its own ephemeral port (within PortMin..PortMax).
	UDPPort int
	// UDPAddr is the address the mux listens on; empty means all interfaces.
	UDPAddr string
	// PortMin and PortMax bound the ephemeral UDP ports; zero means any.
	PortMin, PortMax uint16
	// NAT1To1IPs are public IPs to advertise as host candidates, for hosts
	// behind a 1:1 NAT (cloud VMs). Empty means the interfaces' addresses.
	NAT1To1IPs []string
	// ICEServers are STUN/TURN servers given to the server's peer
	// connections (clients get their own list from the vendor).
	ICEServers []webrtc.ICEServer
	// IncludeLoopback gathers loopback candidates (tests, one-machine demos).
	IncludeLoopback bool
	// Net replaces the network (pion's vnet in tests). Nil means the OS.
	Net transport.Net
	// MaxTracks bounds the media sections one publisher may send. Zero means 4.
	MaxTracks int
	// KeyframeInterval is the shortest time between two keyframe requests
	// to one publisher layer. Zero means 500 ms.
	KeyframeInterval time.Duration
	// ICETimeout is how long a peer connection may go without a packet
	// from its client before its state turns "failed" (it is
	// "disconnected" from half that time). Zero means pion's defaults
	// (disconnected after 5 s, failed after 30 s).
	ICETimeout time.Duration
}

// Engine creates peer connections. It owns the UDP mux, if any.
type Engine struct {
	cfg    Config
	log    *zap.Logger
	pubAPI *webrtc.API
	subAPI *webrtc.API
	mux    ice.UDPMux
	muxPC  net.PacketConn

	closeOnce sync.Once
	stats     engineStats
}

// Stats returns the engine's forwarding counters.
func (e *Engine) Stats() StatsSnapshot { return e.stats.snapshot() }

// NewEngine builds the two pion APIs: the publisher side (receives media:
// NACK generator, receiver reports, TWCC feedback) and the viewer side
// (sends media: sender reports only; NACKs are answered from the SFU's own
// cache, keyframe requests are throttled by the SFU).
func NewEngine(cfg Config) (*Engine, error) {
	if cfg.Logger == nil {
		cfg.Logger = zap.NewNop()
	}
	if cfg.MaxTracks <= 0 {
		cfg.MaxTracks = 4
	}
	if cfg.KeyframeInterval <= 0 {
		cfg.KeyframeInterval = 500 * time.Millisecond
	}
	e := &Engine{cfg: cfg, log: cfg.Logger}
	lf := zapFactory{cfg.Logger}

	se := webrtc.SettingEngine{LoggerFactory: lf}
	se.SetICEMulticastDNSMode(ice.MulticastDNSModeDisabled)
	se.SetIncludeLoopbackCandidate(cfg.IncludeLoopback)
	// GCM is cheaper per packet than AES-CM+HMAC-SHA1 with AES-NI, and every
	// current browser offers it.
	se.SetSRTPProtectionProfiles(dtls.SRTP_AEAD_AES_128_GCM, dtls.SRTP_AES128_CM_HMAC_SHA1_80)
	types := []webrtc.NetworkType{webrtc.NetworkTypeUDP4, webrtc.NetworkTypeUDP6}
	if len(cfg.NAT1To1IPs) > 0 {
		se.SetNAT1To1IPs(cfg.NAT1To1IPs, webrtc.ICECandidateTypeHost)
		// Only families with a public address are offered: a private IPv6
		// host candidate next to a mapped IPv4 one is of no use to clients.
		v6 := false
		for _, ip := range cfg.NAT1To1IPs {
			v6 = v6 || strings.Contains(ip, ":")
		}
		if !v6 {
			types = types[:1]
		}
	}
	se.SetNetworkTypes(types)
	if t := cfg.ICETimeout; t > 0 {
		// Our keepalives draw the client's answers, which count as hearing
		// from it: send them well within the disconnected time.
		se.SetICETimeouts(t/2, t-t/2, min(2*time.Second, t/4))
	}
	if cfg.Net != nil {
		se.SetNet(cfg.Net)
	}
	if cfg.PortMin > 0 || cfg.PortMax > 0 {
		if err := se.SetEphemeralUDPPortRange(cfg.PortMin, cfg.PortMax); err != nil {
			return nil, fmt.Errorf("sfu: port range: %w", err)
		}
	}
	if cfg.UDPPort > 0 {
		pc, err := net.ListenPacket("udp", net.JoinHostPort(cfg.UDPAddr, fmt.Sprint(cfg.UDPPort)))
		if err != nil {
			return nil, fmt.Errorf("sfu: listen udp %d: %w", cfg.UDPPort, err)
		}
		e.muxPC = pc
		e.mux = webrtc.NewICEUDPMux(lf.NewLogger("udpmux"), pc)
		se.SetICEUDPMux(e.mux)
	}

	pubME := &webrtc.MediaEngine{}
	if err := registerCodecs(pubME, true); err != nil {
		return nil, e.fail(err)
	}
	pubIR := &interceptor.Registry{}
	gen, err := nack.NewGeneratorInterceptor()
	if err != nil {
		return nil, e.fail(err)
	}
	pubIR.Add(gen)
	rr, err := report.NewReceiverInterceptor()
	if err != nil {
		return nil, e.fail(err)
	}
	pubIR.Add(rr)
	tw, err := twcc.NewSenderInterceptor()
	if err != nil {
		return nil, e.fail(err)
	}
	pubIR.Add(tw)
	e.pubAPI = webrtc.NewAPI(webrtc.WithMediaEngine(pubME), webrtc.WithInterceptorRegistry(pubIR), webrtc.WithSettingEngine(se))

	subME := &webrtc.MediaEngine{}
	if err := registerCodecs(subME, false); err != nil {
		return nil, e.fail(err)
	}
	subIR := &interceptor.Registry{}
	sr, err := report.NewSenderInterceptor()
	if err != nil {
		return nil, e.fail(err)
	}
	subIR.Add(sr)
	e.subAPI = webrtc.NewAPI(webrtc.WithMediaEngine(subME), webrtc.WithInterceptorRegistry(subIR), webrtc.WithSettingEngine(se))
	return e, nil
}

func (e *Engine) fail(err error) error {
	e.Close()
	return fmt.Errorf("sfu: %w", err)
}

// Close releases the UDP mux. Peer connections must be closed first (their
// owners do that). Idempotent.
func (e *Engine) Close() error {
	var err error
	e.closeOnce.Do(func() {
		if e.mux != nil {
			err = e.mux.Close()
		}
		if e.muxPC != nil {
			if cerr := e.muxPC.Close(); cerr != nil && !errors.Is(cerr, net.ErrClosed) && err == nil {
				err = cerr
			}
		}
	})
	return err
}

// LocalAddr is the UDP mux's address, or nil.
func (e *Engine) LocalAddr() net.Addr {
	if e.muxPC == nil {
		return nil
	}
	return e.muxPC.LocalAddr()
}

func (e *Engine) rtcConfig() webrtc.Configuration {
	return webrtc.Configuration{
		ICEServers:    e.cfg.ICEServers,
		BundlePolicy:  webrtc.BundlePolicyMaxBundle,
		RTCPMuxPolicy: webrtc.RTCPMuxPolicyRequire,
		SDPSemantics:  webrtc.SDPSemanticsUnifiedPlan,
	}
}

// newPC creates a peer connection that trickles its candidates and
// reports its state through the given callbacks (either may be nil).
func (e *Engine) newPC(api *webrtc.API, onCand func(Candidate), onState func(string)) (*webrtc.PeerConnection, error) {
	pc, err := api.NewPeerConnection(e.rtcConfig())
	if err != nil {
		return nil, err
	}
	pc.OnICECandidate(func(c *webrtc.ICECandidate) {
		if c != nil && onCand != nil {
			onCand(c.ToJSON())
		}
	})
	pc.OnConnectionStateChange(func(st webrtc.PeerConnectionState) {
		if onState != nil {
			onState(st.String())
		}
	})
	return pc, nil
}

// Candidate is a trickled ICE candidate, as browsers' RTCIceCandidateInit.
type Candidate = webrtc.ICECandidateInit
