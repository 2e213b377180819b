// Command annal runs annal: a production node (`annal [options]`), a local
// three-node development cluster (`annal dev`), simulated clusters
// (`annal sim run`), and load on a running cluster (`annal bench`).
package main

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"strings"

	"github.com/annal-db/annal/core/options"
	"github.com/annal-db/annal/realnet/config"
)

const usage = `annal: a clustered event store.

Usage:
  annal [options]           run a node until SIGINT or SIGTERM, with EventStoreDB's options: --config FILE (default
                            /etc/eventstore/eventstore.conf), --insecure, --node-port 2113, ...;
                            also EVENTSTORE_* / KURRENTDB_* variables and the YAML file (with no
                            arguments, a node runs when those configure one)
  annal --what-if [options] print the effective configuration, where each value came from, and exit
  annal --help              list every node option, grouped, with its flag, variables, YAML key and default
  annal --version           print the version and exit
  annal dev [flags]         run a local three-node insecure cluster on 127.0.0.1 and print its
                            connection string (annal dev -h for flags)
  annal sim run [flags]     run a simulated cluster (annal sim run -h for flags)
  annal bench MODE [flags]  load a running cluster through the client API and print one line of
                            figures; MODE is append, read or failover (annal bench -h for flags)

`

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// errUsage is a command-line mistake: the message says what to do.
var errUsage = errors.New("usage")

func run(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 && configuredElsewhere(outside()) {
		// A node configured by its environment or its config file alone
		// (a container, a service unit) needs no arguments.
		return exitOf(nodeCommand(nil, stdout, stderr), stderr)
	}
	if len(args) == 0 || args[0] == "help" {
		fmt.Fprint(stderr, usage)
		if len(args) == 0 {
			return 2
		}
		return 0
	}
	var err error
	switch {
	case args[0] == "dev":
		err = devCommand(args[1:], stdout, stderr)
	case args[0] == "sim":
		err = simCommand(args[1:], stdout, stderr)
	case args[0] == "bench":
		err = benchCommand(args[1:], stdout, stderr)
	case strings.HasPrefix(args[0], "-"):
		err = nodeCommand(args, stdout, stderr)
	default:
		fmt.Fprintf(stderr, "annal: unknown command %q\n\n%s", args[0], usage)
		return 2
	}
	return exitOf(err, stderr)
}

// outside is what configures a node besides its command line: the
// environment and the default config file (tests replace it).
var outside = func() config.Inputs { return config.Inputs{Environ: os.Environ(), ReadFile: os.ReadFile} }

// configuredElsewhere reports whether in configures a node without the
// command line: the configuration loader reads a config file, or finds an
// option set in the environment (service links and client settings share
// the EVENTSTORE_ prefix, and set none). A variable that names an option
// counts even when its value is refused, and so does a default config file
// that exists but cannot be read: the node command then says what is
// wrong, where the usage would hide it.
func configuredElsewhere(in config.Inputs) bool {
	c, _ := config.Load(in)
	if c.ConfigRead {
		return true
	}
	for _, o := range options.All() {
		if c.Values.Source(o) == options.SourceEnvironment {
			return true
		}
	}
	for _, kv := range in.Environ {
		k, _, _ := strings.Cut(kv, "=")
		upper := strings.ToUpper(k)
		if !strings.HasPrefix(upper, options.EnvPrefixEventStore) && !strings.HasPrefix(upper, options.EnvPrefixKurrentDB) {
			continue
		}
		if _, _, known := options.Lookup(k); known {
			return true
		}
	}
	if in.ReadFile != nil {
		if _, err := in.ReadFile(c.ConfigPath); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return true
		}
	}
	return false
}

// exitOf is the exit status for a command's error, which it prints.
func exitOf(err error, stderr io.Writer) int {
	var exit exitCode
	switch {
	case err == nil:
		return 0
	case errors.As(err, &exit):
		return int(exit)
	case errors.Is(err, errUsage):
		return 2
	default:
		fmt.Fprintf(stderr, "annal: %v\n", err)
		return 1
	}
}

// exitCode ends the program with a status and no further message.
type exitCode int

func (e exitCode) Error() string { return fmt.Sprintf("exit status %d", int(e)) }
