package live

import "github.com/pion/webrtc/v3"

func toWebRTC(s []ICEServer) []webrtc.ICEServer {
	var out []webrtc.ICEServer
	for _, x := range s {
		w := webrtc.ICEServer{URLs: x.URLs, Username: x.Username}
		if x.Credential != "" {
			w.Credential = x.Credential
			w.CredentialType = webrtc.ICECredentialTypePassword
		}
		out = append(out, w)
	}
	return out
}
