package imports

import (
	crand "crypto/rand" // want "import"
	"fmt"
	"time"
)

// Token draws global randomness and reads the clock in a package that does
// not type-check (crand.Text is unknown to the stand-in).
func Token() string {
	return fmt.Sprint(crand.Text(), time.Now()) // want "wall-clock"
}
