package auth

import (
	"errors"
	"net/http"
)

// Realm is the realm of the Basic challenge in 401 answers, as
// EventStoreDB names it.
const Realm = "ESDB"

// EndpointPolicy says which HTTP routes anonymous callers may use.
type EndpointPolicy struct {
	// AllowAnonymousEndpointAccess opens every route to anonymous callers
	// (EventStoreDB's option of that name).
	AllowAnonymousEndpointAccess bool
	// OverrideAnonymousEndpointAccessForGossip keeps GET /gossip open
	// (EventStoreDB's option; on by default, since clients discover the
	// cluster without credentials).
	OverrideAnonymousEndpointAccessForGossip bool
}

// openRoutes are always open: liveness, node information, ping.
var openRoutes = map[string]bool{"/health/live": true, "/info": true, "/ping": true}

// MayReadGossip reports whether who may read the cluster's gossip (over
// HTTP GET /gossip or gRPC Gossip.Read).
func (pol EndpointPolicy) MayReadGossip(who *Principal) bool {
	return who.Authenticated() || pol.anonymousMay("/gossip")
}

func (pol EndpointPolicy) anonymousMay(path string) bool {
	return pol.AllowAnonymousEndpointAccess || openRoutes[path] ||
		(path == "/gossip" && pol.OverrideAnonymousEndpointAccessForGossip)
}

// HTTP authenticates the node port's HTTP requests: Basic credentials in
// the Authorization header. Wrong credentials, or none on a route that
// needs a user, are answered 401 with a Basic challenge; otherwise next
// serves the request with the caller in its context (FromContext).
func (a *Authenticator) HTTP(next http.Handler, pol EndpointPolicy) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p, err := a.FromHeader(r.Header.Values("Authorization"))
		switch {
		case errors.Is(err, ErrTooBusy):
			w.Header().Set("Retry-After", "1")
			http.Error(w, err.Error(), http.StatusServiceUnavailable)
			return
		case err != nil:
			challenge(w, err.Error())
			return
		case !p.Authenticated() && r.Method != http.MethodOptions && !pol.anonymousMay(r.URL.Path):
			// A CORS preflight never carries credentials: it goes on as
			// the anonymous caller, and the routes answer it (their
			// methods and CORS headers) without serving anything, as
			// EventStoreDB answers OPTIONS before it authorizes.
			challenge(w, r.URL.Path+" needs a user's credentials (HTTP Basic authentication)")
			return
		}
		next.ServeHTTP(w, r.WithContext(NewContext(r.Context(), p)))
	})
}

func challenge(w http.ResponseWriter, why string) {
	w.Header().Set("WWW-Authenticate", `Basic realm="`+Realm+`", charset="UTF-8"`)
	http.Error(w, "Unauthorized: "+why, http.StatusUnauthorized)
}
