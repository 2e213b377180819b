package bad

import "os"

func f() { go os.Exit(1) }
