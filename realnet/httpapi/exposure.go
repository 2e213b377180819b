package httpapi

import (
	"strings"

	"github.com/annal-db/annal/core/options"
)

// Exposure says which groups of endpoints the node port hides. Each field
// is empty when the group is served, or the reason it is hidden, naming
// the option spellings that hide it.
type Exposure struct {
	// Gossip: GET /gossip and the client Gossip gRPC service. The
	// cluster's own gossip between nodes is never hidden.
	Gossip string
	// Stats: GET /stats (and its sub-paths) and GET /metrics.
	Stats string
	// Admin: everything under the admin prefixes (AdminPrefixes).
	Admin string
}

// AdminPrefixes are the paths of the admin UI and admin operations:
// EventStoreDB's UI lives under /web (and KurrentDB's newer one under
// /ui), its operations under /admin. annal's UI (Config.Admin,
// realnet/adminui) lives under /web; AdminOnExt hides all three.
var AdminPrefixes = []string{"/web", "/ui", "/admin"}

// ExposureOf reads the exposure switches. Each group has two spellings,
// the older XOnExt (default true) and the newer DisableX (default false);
// a group is hidden if either spelling says so, so that a configuration
// written for any EventStoreDB version keeps hiding what it hid.
func ExposureOf(v *options.Values) Exposure {
	return Exposure{
		Gossip: hiddenBy(v, options.GossipOnExt, options.DisableGossipOnHttp),
		Stats:  hiddenBy(v, options.StatsOnExt, options.DisableStatsOnHttp),
		Admin:  hiddenBy(v, options.AdminOnExt, options.DisableAdminUi),
	}
}

func hiddenBy(v *options.Values, onExt, disable *options.Option) string {
	var why []string
	if !v.Bool(onExt) {
		why = append(why, onExt.Name+"=false")
	}
	if v.Bool(disable) {
		why = append(why, disable.Name+"=true")
	}
	if len(why) == 0 {
		return ""
	}
	return "hidden on this node's port by " + strings.Join(why, " and ")
}

// isAdminPath reports whether path lies under an admin prefix.
func isAdminPath(path string) bool {
	for _, p := range AdminPrefixes {
		if path == p || strings.HasPrefix(path, p+"/") {
			return true
		}
	}
	return false
}
