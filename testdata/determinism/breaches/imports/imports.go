// Package imports reaches outside core through its imports.
package imports

import (
	"io"        // want "import"
	"math/rand" // want "import"
	"os"        // want "import"
	"strings"
	"sync"   // want "import"
	"unsafe" // want "import"

	"github.com/annal-db/annal/core/sorted"
	"github.com/annal-db/annal/sim/world" // want "import"
	yaml "gopkg.in/yaml.v3"               // want "import"
)

var (
	_ = io.EOF
	_ = rand.Int
	_ = strings.ToUpper
	_ sync.Mutex
	_ = unsafe.Sizeof(0)
	_ = sorted.Keys[map[string]int]
	_ = world.New
	_ = yaml.Marshal
)

// Home uses a forbidden package; the breach is its import above, and the
// package still gets every other check though os has no types here.
func Home() string { return os.Getenv("HOME") }
