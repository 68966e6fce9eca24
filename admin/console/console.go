// Package console is Switchboard's operator console: a single page of
// plain HTML, CSS and JavaScript (no build step, no framework) embedded in
// the binary and served by the admin server at / (the page) and /console/
// (its script and style sheet).
//
// The page talks only to the admin API: it lists calls, orbits,
// conferences and recordings with GET /api/v1/..., acts with the API's
// POST and DELETE requests, and keeps every view current from the event
// stream (GET /api/v1/events): on an event it refetches the resource the
// event names, never polls. When the API wants a bearer token the page
// asks for it once and keeps it in the tab's sessionStorage; the event
// stream and the <audio> element, which cannot send an Authorization
// header, use a short-lived ticket bound to their path (POST
// /api/v1/tickets). Every value from the server is put into the page as
// text (textContent), never as markup, and the Content-Security-Policy
// allows no inline script.
//
//	mux.Handle("GET /{$}", console.Handler())
//	mux.Handle("GET /console/", console.Handler())
package console

import (
	"embed"
	"io/fs"
	"net/http"
	"path"
	"strings"
)

//go:embed static
var static embed.FS

// csp allows the page's own script, style, API and audio only: data that
// found its way into markup could not run.
const csp = "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; media-src 'self' blob:; img-src 'self' data:; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"

// Handler serves the console: / is the page, /console/NAME its assets.
// It is safe for concurrent use.
func Handler() http.Handler {
	sub, _ := fs.Sub(static, "static") // the directory is embedded: no error
	files := http.StripPrefix("/console", http.FileServerFS(sub))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Security-Policy", csp)
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "no-referrer")
		h.Set("Cache-Control", "no-cache")
		switch {
		case r.URL.Path == "/":
			http.ServeFileFS(w, r, sub, "index.html")
		case Public(r):
			files.ServeHTTP(w, r)
		default:
			http.NotFound(w, r)
		}
	})
}

// Public reports whether r asks for one of the console's static files,
// which the admin server serves without the token (they hold no data).
func Public(r *http.Request) bool {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		return false
	}
	p := r.URL.Path
	// Only clean paths: "/console/../api/v1/calls" is no static file.
	return p == "/" || (strings.HasPrefix(p, "/console/") && p != "/console/" && path.Clean(p) == p)
}
