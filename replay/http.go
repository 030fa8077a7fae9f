package replay

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/qunkit/qun"
)

// Handler returns the playback API (docs/ops/replay.md). Mount it under a
// prefix with http.StripPrefix, e.g.
//
//	mux.Handle("/replays/", http.StripPrefix("/replays", svc.Handler()))
//
// Requests authenticate with "Authorization: Bearer <token>", or, for GET
// requests from media elements that cannot set headers, "?token=<token>".
func (s *Service) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", s.authed(s.httpList))
	mux.HandleFunc("GET /{id}", s.authed(s.httpManifest))
	mux.HandleFunc("GET /{id}/timeline", s.authed(s.httpTimeline))
	mux.HandleFunc("GET /{id}/tracks/{track}", s.authed(s.httpMedia))
	mux.HandleFunc("POST /{id}/keep", s.authed(s.httpKeep))
	mux.HandleFunc("POST /{id}/discard", s.authed(s.httpAction(s.Discard)))
	mux.HandleFunc("POST /{id}/stop", s.authed(s.httpAction(s.StopByHost)))
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		qun.WriteError(w, qun.Errorf(qun.CodeNotFound, "no such route"))
	})
	return mux
}

// authed authenticates the request and passes the identity in its context.
func (s *Service) authed(h func(w http.ResponseWriter, r *http.Request, id *qun.Identity)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		tok := ""
		if a := r.Header.Get("Authorization"); a != "" {
			if t, ok := strings.CutPrefix(a, "Bearer "); ok {
				tok = strings.TrimSpace(t)
			}
		} else if r.Method == http.MethodGet || r.Method == http.MethodHead {
			tok = r.URL.Query().Get("token")
		}
		if tok == "" || s.cfg.Authenticator == nil {
			qun.WriteError(w, qun.Errorf(qun.CodeUnauthenticated, "a bearer token is required"))
			return
		}
		id, err := s.cfg.Authenticator.Authenticate(r.Context(), tok)
		if err != nil {
			qun.WriteError(w, err)
			return
		}
		h(w, r.WithContext(qun.WithIdentity(r.Context(), id)), id)
	}
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "private, no-store")
	_ = json.NewEncoder(w).Encode(v)
}

// Manifest is what a player needs to play a replay: its tracks, where each
// starts on the recording's timeline, and where the files and the timeline
// are served.
type Manifest struct {
	*Replay
	Tracks []ManifestTrack `json:"tracks"`
	// Timeline is the URL of the timeline endpoint.
	Timeline string `json:"timeline"`
	// CanDecide tells the player to show the host's keep/discard controls.
	CanDecide bool `json:"canDecide"`
}

// ManifestTrack is a track and the URL of its file.
type ManifestTrack struct {
	Track
	URL string `json:"url"`
}

// basePath returns the path the handler is mounted at: the request's
// original path minus what StripPrefix left in r.URL.
func basePath(r *http.Request) string {
	u, err := url.ParseRequestURI(r.RequestURI)
	if err != nil {
		return ""
	}
	full, rest := u.EscapedPath(), r.URL.EscapedPath()
	if !strings.HasSuffix(full, rest) {
		return ""
	}
	return strings.TrimSuffix(full, rest)
}

func (s *Service) manifest(ctx context.Context, r *http.Request, id *qun.Identity, rp *Replay) *Manifest {
	base := basePath(r) + "/" + url.PathEscape(rp.ID)
	m := &Manifest{Replay: rp, Tracks: []ManifestTrack{}, Timeline: base + "/timeline", CanDecide: s.isHost(ctx, id, rp)}
	for _, t := range rp.Tracks {
		m.Tracks = append(m.Tracks, ManifestTrack{Track: t, URL: base + "/tracks/" + url.PathEscape(t.ID)})
	}
	return m
}

func (s *Service) httpManifest(w http.ResponseWriter, r *http.Request, id *qun.Identity) {
	rp, err := s.Get(r.Context(), id, r.PathValue("id"))
	if err != nil {
		qun.WriteError(w, err)
		return
	}
	writeJSON(w, s.manifest(r.Context(), r, id, rp))
}

func (s *Service) httpList(w http.ResponseWriter, r *http.Request, id *qun.Identity) {
	q := r.URL.Query()
	o := ListOptions{Live: qun.RoomID(q.Get("live")), Group: qun.RoomID(q.Get("group"))}
	var err error
	if v := q.Get("limit"); v != "" {
		if o.Limit, err = strconv.Atoi(v); err != nil {
			qun.WriteError(w, &qun.Error{Code: qun.CodeInvalid, Message: "limit must be a number", Field: "limit"})
			return
		}
	}
	if v := q.Get("before"); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n < 0 {
			qun.WriteError(w, &qun.Error{Code: qun.CodeInvalid, Message: "before must be unix milliseconds", Field: "before"})
			return
		}
		o.Before = time.UnixMilli(n)
	}
	rs, err := s.List(r.Context(), id, o)
	if err != nil {
		qun.WriteError(w, err)
		return
	}
	out := []*Manifest{}
	for _, rp := range rs {
		out = append(out, s.manifest(r.Context(), r, id, rp))
	}
	writeJSON(w, map[string]any{"replays": out})
}

func (s *Service) httpTimeline(w http.ResponseWriter, r *http.Request, id *qun.Identity) {
	var tq TimelineQuery
	q := r.URL.Query()
	for _, p := range []struct {
		name string
		dst  *int64
	}{{"from", &tq.From}, {"to", &tq.To}} {
		if v := q.Get(p.name); v != "" {
			n, err := strconv.ParseInt(v, 10, 64)
			if err != nil {
				qun.WriteError(w, &qun.Error{Code: qun.CodeInvalid, Message: p.name + " must be milliseconds", Field: p.name})
				return
			}
			*p.dst = n
		}
	}
	for _, p := range []struct {
		name string
		dst  *int
	}{{"cursor", &tq.Cursor}, {"limit", &tq.Limit}} {
		if v := q.Get(p.name); v != "" {
			n, err := strconv.Atoi(v)
			if err != nil {
				qun.WriteError(w, &qun.Error{Code: qun.CodeInvalid, Message: p.name + " must be a number", Field: p.name})
				return
			}
			*p.dst = n
		}
	}
	page, err := s.Timeline(r.Context(), id, r.PathValue("id"), tq)
	if err != nil {
		qun.WriteError(w, err)
		return
	}
	writeJSON(w, page)
}

func (s *Service) httpMedia(w http.ResponseWriter, r *http.Request, id *qun.Identity) {
	obj, t, err := s.OpenTrack(r.Context(), id, r.PathValue("id"), r.PathValue("track"))
	if err != nil {
		qun.WriteError(w, err)
		return
	}
	defer obj.Close()
	ctype, _, _ := strings.Cut(t.MimeType, ";")
	h := w.Header()
	h.Set("Content-Type", ctype)
	h.Set("X-Content-Type-Options", "nosniff")
	// Revalidated on every use, so a discarded replay stops playing.
	h.Set("Cache-Control", "private, no-cache")
	if rangePastEnd(r.Header.Get("Range"), obj.Size()) {
		h.Set("Content-Range", "bytes */"+strconv.FormatInt(obj.Size(), 10))
		qun.WriteError(w, qun.Errorf(qun.CodeOutOfRange, "range starts past the end of the file (%d bytes)", obj.Size()))
		return
	}
	http.ServeContent(w, r, "", obj.ModTime(), obj)
}

// rangePastEnd reports whether a Range header asks only for bytes at or
// past size, which http.ServeContent would answer with a bare text 416.
func rangePastEnd(h string, size int64) bool {
	spec, ok := strings.CutPrefix(h, "bytes=")
	if !ok {
		return false
	}
	for _, part := range strings.Split(spec, ",") {
		start, _, ok := strings.Cut(strings.TrimSpace(part), "-")
		if !ok || start == "" {
			return false // a suffix range is always satisfiable when size > 0
		}
		n, err := strconv.ParseInt(start, 10, 64)
		if err != nil || n < size {
			return false
		}
	}
	return true
}

func (s *Service) httpKeep(w http.ResponseWriter, r *http.Request, id *qun.Identity) {
	var o KeepOptions
	body, err := io.ReadAll(io.LimitReader(r.Body, 4<<10))
	if err != nil {
		qun.WriteError(w, qun.Errorf(qun.CodeInvalid, "unreadable body"))
		return
	}
	if len(strings.TrimSpace(string(body))) > 0 {
		if err := qun.Bind(body, &o); err != nil {
			qun.WriteError(w, err)
			return
		}
	}
	rp, err := s.Keep(r.Context(), id, r.PathValue("id"), o)
	if err != nil {
		qun.WriteError(w, err)
		return
	}
	writeJSON(w, s.manifest(r.Context(), r, id, rp))
}

func (s *Service) httpAction(fn func(context.Context, *qun.Identity, string) (*Replay, error)) func(http.ResponseWriter, *http.Request, *qun.Identity) {
	return func(w http.ResponseWriter, r *http.Request, id *qun.Identity) {
		rp, err := fn(r.Context(), id, r.PathValue("id"))
		if err != nil {
			qun.WriteError(w, err)
			return
		}
		writeJSON(w, s.manifest(r.Context(), r, id, rp))
	}
}
