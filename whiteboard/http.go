package whiteboard

import (
	"encoding/json"
	"net/http"
	"strconv"
	"strings"

	"github.com/qunkit/qun"
)

// HTTPHandler serves courseware uploads and page images. Mount it under a
// prefix with http.StripPrefix, e.g.
//
//	mux.Handle("/wb/", http.StripPrefix("/wb", svc.HTTPHandler()))
//
// Routes (every request carries "Authorization: Bearer <token>", the same
// token the client gives the Hub):
//
//	POST /boards/{board}/pages[?after=<page id>]  body: a PDF or an image → 201 Upload
//	GET  /boards/{board}/files/{file}             a page's background image
//
// Errors are JSON {"err":{"code","msg"}} with the status of their code;
// another tenant's board answers 404 like a missing one.
func (s *Service) HTTPHandler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /boards/{board}/pages", s.serveUpload)
	mux.HandleFunc("GET /boards/{board}/files/{file}", s.serveFile)
	mux.HandleFunc("/", func(w http.ResponseWriter, _ *http.Request) {
		qun.WriteError(w, qun.Errorf(qun.CodeNotFound, "no such route"))
	})
	return mux
}

func (s *Service) authenticate(w http.ResponseWriter, r *http.Request) *qun.Identity {
	tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	var id *qun.Identity
	var err error = qun.Errorf(qun.CodeUnauthenticated, "an Authorization: Bearer token is required")
	if ok && tok != "" && s.cfg.Authenticator != nil {
		id, err = s.cfg.Authenticator.Authenticate(r.Context(), strings.TrimSpace(tok))
		if err == nil {
			err = qun.Validate(id)
		}
		if err != nil && qun.ErrorCode(err) != qun.CodeInternal {
			err = qun.Errorf(qun.CodeUnauthenticated, "invalid token")
		}
	}
	if err != nil {
		w.Header().Set("WWW-Authenticate", `Bearer realm="qun"`)
		qun.WriteError(w, err)
		return nil
	}
	return id
}

func (s *Service) serveUpload(w http.ResponseWriter, r *http.Request) {
	id := s.authenticate(w, r)
	if id == nil {
		return
	}
	var after *uint64
	if v := r.URL.Query().Get("after"); v != "" {
		n, err := strconv.ParseUint(v, 10, 64)
		if err != nil {
			qun.WriteError(w, invalid("after", "after must be a page id"))
			return
		}
		after = &n
	}
	if r.ContentLength > s.cfg.Upload.MaxBytes {
		qun.WriteError(w, qun.Errorf(qun.CodeTooLarge, "an upload is at most %d bytes", s.cfg.Upload.MaxBytes))
		return
	}
	up, err := s.Upload(qun.WithIdentity(r.Context(), id), id, BoardID(r.PathValue("board")), after, http.MaxBytesReader(w, r.Body, s.cfg.Upload.MaxBytes+1))
	if err != nil {
		qun.WriteError(w, err)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusCreated)
	_ = json.NewEncoder(w).Encode(up)
}

func (s *Service) serveFile(w http.ResponseWriter, r *http.Request) {
	id := s.authenticate(w, r)
	if id == nil {
		return
	}
	ctx := qun.WithIdentity(r.Context(), id)
	bid := BoardID(r.PathValue("board"))
	b, _, err := s.acquireFor(ctx, id, bid, forNone) // checks the caller may watch the board
	if err != nil {
		qun.WriteError(w, err)
		return
	}
	b.mu.Unlock()
	f, err := s.store.File(ctx, id.Tenant, bid, r.PathValue("file"))
	if err != nil {
		qun.WriteError(w, err)
		return
	}
	etag := `"` + f.ID + `"`
	h := w.Header()
	h.Set("ETag", etag)
	// A file never changes: new courseware gets new file ids.
	h.Set("Cache-Control", "private, max-age=31536000, immutable")
	h.Set("X-Content-Type-Options", "nosniff")
	if r.Header.Get("If-None-Match") == etag {
		w.WriteHeader(http.StatusNotModified)
		return
	}
	h.Set("Content-Type", f.ContentType)
	h.Set("Content-Length", strconv.Itoa(len(f.Data)))
	_, _ = w.Write(f.Data)
}
