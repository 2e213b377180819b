package adminui

import (
	"net/http"

	"github.com/annal-db/annal/core/options"
)

// ConfigDoc is GET /web/api/config: every option's effective value and
// where it came from, grouped as --what-if groups them.
type ConfigDoc struct {
	Groups []ConfigGroup `json:"groups"`
}

// ConfigGroup is one group of options.
type ConfigGroup struct {
	Title   string         `json:"title"`
	Options []ConfigOption `json:"options"`
}

// ConfigOption is one option. Value and Default are redacted for secrets.
type ConfigOption struct {
	Name    string `json:"name"`
	Value   string `json:"value"`
	Default string `json:"default"`
	// Source is "default", "config file", "environment", "command line".
	Source string `json:"source"`
	Secret bool   `json:"secret,omitempty"`
	Help   string `json:"help,omitempty"`
}

// configDoc reads the options as --what-if does (options.Groups,
// Values.Display for the redaction), without its text layout.
func configDoc(v *options.Values) ConfigDoc {
	var doc ConfigDoc
	all := options.All()
	for _, g := range options.Groups() {
		cg := ConfigGroup{Title: g.Title(), Options: []ConfigOption{}}
		for _, o := range all {
			if o.Group != g {
				continue
			}
			def := o.Default
			if o.Secret && def != "" {
				def = options.Redacted
			}
			cg.Options = append(cg.Options, ConfigOption{
				Name: o.Name, Value: v.Display(o), Default: def, Source: v.Source(o).String(), Secret: o.Secret, Help: o.Help,
			})
		}
		if len(cg.Options) > 0 {
			doc.Groups = append(doc.Groups, cg)
		}
	}
	return doc
}

func (h *Handler) serveConfig(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, configDoc(h.cfg.Options))
}
