// Package adminui is the node's admin UI on its node port: plain HTML, CSS
// and JavaScript modules embedded in the binary, and the two JSON
// endpoints they read besides GET /gossip.
//
// # Paths
//
//	/web/                          the UI (cluster, streams, configuration)
//	/web/api/streams/{stream}      a page of a stream, newest first
//	/web/api/config                the node's effective options
//	/ui, /admin                    redirect to /web/
//
// The handler serves every admin prefix (httpapi.AdminPrefixes); the HTTP
// API in front of it hides them all when AdminOnExt=false or
// DisableAdminUi=true, and a secure node asks for Basic credentials before
// anything here runs, so the browser's own login prompt is the UI's login.
//
// # Streams
//
// GET /web/api/streams/{stream}?from=N&count=K reads backwards from
// revision N (the end when from is absent) through the same node calls the
// gRPC API makes, checked by the same authorizer (the stream policy of a
// secure node). 404: no such stream; 410: deleted; 401/403: the caller may
// not read it. The answer says where the next older page starts.
package adminui
