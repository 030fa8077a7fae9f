package demo

import (
	"embed"
	"io/fs"
	"net/http"
)

//go:embed web
var web embed.FS

// Assets serves the shared CSS and JS at /demo/ (demo.css, login.js).
func Assets() http.Handler {
	sub, _ := fs.Sub(web, "web")
	return http.StripPrefix("/demo/", http.FileServer(http.FS(sub)))
}
