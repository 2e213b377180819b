package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime"
	"syscall"

	"github.com/annal-db/annal/core/options"
	"github.com/annal-db/annal/realnet/config"
	noderuntime "github.com/annal-db/annal/realnet/runtime"
)

// version is the release this binary was built from; set it at build time
// with -ldflags "-X main.version=1.2.3".
var version = "dev"

// nodeCommand is `annal [options]`: load the node's configuration from the
// command line, the environment and the configuration files, and run it
// until SIGINT or SIGTERM.
func nodeCommand(args []string, stdout, stderr io.Writer) error {
	return runNode(config.Inputs{
		Args:           args,
		Environ:        os.Environ(),
		ReadFile:       os.ReadFile,
		InterfaceAddrs: config.HostAddrs,
	}, stdout, stderr, interruptContext)
}

// interruptContext ends at the first SIGINT or SIGTERM. The signal's
// default handling returns with it, so a second Ctrl-C ends a shutdown
// that hangs.
func interruptContext() (context.Context, context.CancelFunc) {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	context.AfterFunc(ctx, stop)
	return ctx, stop
}

// runNode does the work of nodeCommand on explicit inputs; interrupted
// gives the context that ends the node. Exit status: 0 after --help,
// --version and --what-if, and after a clean stop; 1 for configuration
// errors, all listed, and for a node that cannot start; a node that stops
// by itself exits with its own code.
func runNode(in config.Inputs, stdout, stderr io.Writer, interrupted func() (context.Context, context.CancelFunc)) error {
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
	// Start before waiting for signals: a node that cannot start (its
	// certificates, its directory, its ports) says so and exits at once.
	rt, err := noderuntime.Start(noderuntime.Config{Options: v, Log: stderr})
	if err != nil {
		fmt.Fprintf(stderr, "annal: the node cannot start: %v\n", err)
		return exitCode(1)
	}
	ctx, stop := interrupted()
	defer stop()
	select {
	case <-ctx.Done():
	case <-rt.Exited():
	}
	err = rt.Stop()
	var exit *noderuntime.ExitError
	switch {
	case err == nil:
		return nil
	case errors.As(err, &exit):
		fmt.Fprintf(stderr, "annal: %v\n", err)
		return exitCode(max(exit.Code, 1))
	default:
		fmt.Fprintf(stderr, "annal: %v\n", err)
		return exitCode(1)
	}
}
