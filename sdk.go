package qun

import (
	"bytes"
	_ "embed"
	"net/http"
	"path"
	"strconv"
	"time"
)

//go:embed sdk/qun.js
var sdkJS []byte

// sdkModTime is fixed so that caches revalidate by ETag, not by time.
var sdkModTime = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

var sdkETag = `"` + strconv.FormatUint(fnv64(sdkJS), 36) + `"`

// serveSDK serves the browser SDK, the ES module sdk/qun.js, for GET
// requests to <mount>/qun.js.
func serveSDK(w http.ResponseWriter, r *http.Request) bool {
	if r.Method != http.MethodGet && r.Method != http.MethodHead || path.Base(r.URL.Path) != "qun.js" {
		return false
	}
	w.Header().Set("Content-Type", "text/javascript; charset=utf-8")
	w.Header().Set("ETag", sdkETag)
	w.Header().Set("Cache-Control", "no-cache")
	http.ServeContent(w, r, "qun.js", sdkModTime, bytes.NewReader(sdkJS))
	return true
}

func fnv64(b []byte) uint64 {
	h := uint64(14695981039346656037)
	for _, c := range b {
		h ^= uint64(c)
		h *= 1099511628211
	}
	return h
}
