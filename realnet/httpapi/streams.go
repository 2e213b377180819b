package httpapi

import (
	"net/http"
	"strings"

	"github.com/annal-db/annal/core/options"
)

// MountStreams hands the API the AtomPub handler that serves /streams and
// everything below it. Call it before the node port serves; without it
// those paths answer 404 naming the option that turns AtomPub on.
func (a *API) MountStreams(h http.Handler) { a.streams.Store(&h) }

func isStreamsPath(path string) bool {
	return path == "/streams" || strings.HasPrefix(path, "/streams/")
}

// serveStreams answers at once when AtomPub is off, rather than leaving
// the request to the port's routes, so a client learns why.
func (a *API) serveStreams(w http.ResponseWriter, r *http.Request) {
	if h := a.streams.Load(); h != nil {
		(*h).ServeHTTP(w, r)
		return
	}
	http.Error(w, r.URL.Path+": AtomPub over HTTP is off on this node; start it with "+
		options.EnableAtomPubOverHttp.Name+"=true (--enable-atom-pub-over-http) to serve /streams", http.StatusNotFound)
}
