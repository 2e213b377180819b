package runtime

import (
	"net/http"

	"github.com/annal-db/annal/core/options"
	"github.com/annal-db/annal/realnet/adminui"
	"github.com/annal-db/annal/realnet/auth"
)

// newAdminUI is the admin UI (realnet/adminui) on the node port: its
// stream reads go through the node as the gRPC API calls it, checked by
// the same stream policy; on a secure node auth.Authenticator.HTTP has
// authenticated the caller before the UI runs.
func newAdminUI(r *Runtime, opts *options.Values, sec *security) (http.Handler, error) {
	cfg := adminui.Config{Node: r.client, Options: opts}
	if sec != nil {
		cfg.Authorize = sec.authorizer()
		cfg.Anonymous = func(req *http.Request) bool { return !auth.FromContext(req.Context()).Authenticated() }
		cfg.Challenge = `Basic realm="` + auth.Realm + `", charset="UTF-8"`
	}
	return adminui.New(cfg)
}
