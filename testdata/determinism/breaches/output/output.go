// Package output writes past the environment.
package output

import (
	"errors"
	"fmt"
	"strings"
)

func report(n int) error {
	fmt.Println("n", n)     // want "output"
	fmt.Printf("n=%d\n", n) // want "output"
	fmt.Print(n)            // want "output"
	println("n", n)         // want "output"
	print(n)                // want "output"
	var sb strings.Builder
	fmt.Fprintf(&sb, "%d", n) // want "output"
	_, _ = fmt.Scan(&n)       // want "output"
	pr := fmt.Println         // want "output"
	_ = pr
	_ = fmt.Sprintf("n=%d", n)
	_ = fmt.Appendf(nil, "%d", n)
	_, _ = fmt.Sscanf("1", "%d", &n)
	return errors.Join(fmt.Errorf("n=%d", n))
}
