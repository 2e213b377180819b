package main

import (
	"fmt"
	"io"
	"os"
	"runtime"

	"github.com/annal-db/annal/core/options"
	"github.com/annal-db/annal/realnet/config"
)

// version is the release this binary was built from; set it at build time
// with -ldflags "-X main.version=1.2.3".
var version = "dev"

// nodeCommand is `annal [options]`: load the node's configuration from the
// command line, the environment and the configuration files, and run it.
func nodeCommand(args []string, stdout, stderr io.Writer) error {
	return runNode(config.Inputs{
		Args:           args,
		Environ:        os.Environ(),
		ReadFile:       os.ReadFile,
		InterfaceAddrs: config.HostAddrs,
	}, stdout, stderr)
}

// runNode does the work of nodeCommand on explicit inputs. Exit status: 0
// after --help, --version and --what-if; 1 for configuration errors, all
// listed; 2 while this build cannot run a production node.
func runNode(in config.Inputs, stdout, stderr io.Writer) error {
	c, err := config.Load(in)
	v := c.Values
	// Help and version need no valid configuration: they are how one finds
	// out what a valid one is.
	if v.Bool(options.Help) {
		return config.WriteHelp(stdout)
	}
	if v.Bool(options.Version) {
		_, werr := fmt.Fprintf(stdout, "annal %s (%s %s/%s)\n", version, runtime.Version(), runtime.GOOS, runtime.GOARCH)
		return werr
	}
	for _, n := range c.Notes {
		fmt.Fprintf(stderr, "annal: %s\n", n)
	}
	if err != nil {
		fmt.Fprintf(stderr, "annal: %v\n", err)
		return exitCode(1)
	}
	if v.Bool(options.WhatIf) {
		return config.WriteWhatIf(stdout, c)
	}
	if err := config.CheckNodeStart(c); err != nil {
		p := err.(config.Problems)
		if len(p) == 1 {
			fmt.Fprintf(stderr, "annal: the node cannot start: %s\n", p[0])
		} else {
			fmt.Fprintf(stderr, "annal: the node cannot start:\n")
			for _, s := range p {
				fmt.Fprintf(stderr, "  - %s\n", s)
			}
		}
		return exitCode(1)
	}
	fmt.Fprintln(stderr, "annal: the configuration is valid, but running a production node is not available in this build yet. "+
		"Try `annal --what-if` to see the effective configuration, or `annal sim run` to run a simulated cluster.")
	return exitCode(2)
}
