package httpapi

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"go.uber.org/goleak"

	"github.com/annal-db/annal/core/member"
	"github.com/annal-db/annal/core/node"
	"github.com/annal-db/annal/core/options"
	"github.com/annal-db/annal/realnet/disk"
	"github.com/annal-db/annal/realnet/netstack"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// fakeNode is a node whose figures the test sets.
type fakeNode struct {
	mu       sync.Mutex
	status   Status
	stats    node.Stats
	statsErr error
	loopLen  int
	disk     disk.Stats
	port     netstack.NodePortStats
	dir      string
}

func newFakeNode(t *testing.T) *fakeNode {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "chunk-000000"), make([]byte, 4096), 0o644); err != nil {
		t.Fatal(err)
	}
	return &fakeNode{dir: dir, status: Status{State: member.Leader}}
}

func (f *fakeNode) Status() Status {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.status
}

func (f *fakeNode) setState(s member.State) {
	f.mu.Lock()
	f.status.State = s
	f.mu.Unlock()
}

func (f *fakeNode) Stats(ctx context.Context) (node.Stats, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.stats, f.statsErr
}

func (f *fakeNode) LoopQueue() (int, int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.loopLen, 1024
}

func (f *fakeNode) DiskStats() disk.Stats {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.disk
}

func (f *fakeNode) PortStats() netstack.NodePortStats {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.port
}

func (f *fakeNode) Dir() string { return f.dir }

// optionsWith are the defaults with the given options set.
func optionsWith(t *testing.T, set map[*options.Option]string) *options.Values {
	t.Helper()
	v := options.Defaults()
	for o, s := range set {
		if err := v.Set(o, s, options.SourceCommandLine); err != nil {
			t.Fatalf("option %s=%q: %v", o.Name, s, err)
		}
	}
	return v
}

func newAPI(t *testing.T, n Node, cfg Config, set map[*options.Option]string) *API {
	t.Helper()
	cfg.Options = optionsWith(t, set)
	cfg.Node = n
	a, err := New(cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return a
}

// portMux stands for the node port's own routes behind the API.
func portMux() *http.ServeMux {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /gossip", func(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, `{"members":[]}`) })
	return mux
}

// do runs one request through the API in front of next.
func do(t *testing.T, h http.Handler, method, path string, body io.Reader) *httptest.ResponseRecorder {
	t.Helper()
	w := httptest.NewRecorder()
	h.ServeHTTP(w, httptest.NewRequest(method, path, body))
	return w
}

// parseMetrics parses a /metrics body as Prometheus text, with the
// classic name rules, so that every name is one any scraper takes.
func parseMetrics(t *testing.T, body string) map[string]*dto.MetricFamily {
	t.Helper()
	p := expfmt.NewTextParser(model.LegacyValidation)
	fams, err := p.TextToMetricFamilies(strings.NewReader(body))
	if err != nil {
		t.Fatalf("/metrics is not Prometheus text: %v\n%s", err, body)
	}
	return fams
}

// sample finds the value of the series of family name whose labels
// include want (pairs of name, value); ok false when there is none.
func sample(fams map[string]*dto.MetricFamily, name string, want ...string) (float64, bool) {
	f := fams[name]
	if f == nil {
		return 0, false
	}
next:
	for _, m := range f.GetMetric() {
		for i := 0; i+1 < len(want); i += 2 {
			found := false
			for _, l := range m.GetLabel() {
				if l.GetName() == want[i] && l.GetValue() == want[i+1] {
					found = true
				}
			}
			if !found {
				continue next
			}
		}
		switch {
		case m.GetCounter() != nil:
			return m.GetCounter().GetValue(), true
		case m.GetGauge() != nil:
			return m.GetGauge().GetValue(), true
		case m.GetHistogram() != nil:
			return float64(m.GetHistogram().GetSampleCount()), true
		case m.GetUntyped() != nil:
			return m.GetUntyped().GetValue(), true
		}
	}
	return 0, false
}

var errNodeBusy = errors.New("the node's loop did not answer")
