package runtime

import (
	"os"
	"strconv"
	"strings"
)

// lockFileName is the lock file inside the database directory. Core never
// names a file at the root with this name.
const lockFileName = "annal.lock"

// pidText is what the holder writes into the lock file.
func pidText() []byte { return []byte(strconv.Itoa(os.Getpid()) + "\n") }

// parsePID reads a holder's pid; 0 when the file holds none (yet).
func parsePID(b []byte) int {
	n, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil || n <= 0 {
		return 0
	}
	return n
}
