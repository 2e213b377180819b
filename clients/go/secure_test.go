package clienttests

import (
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/kurrent-io/KurrentDB-Client-Go/kurrentdb"
	"github.com/stretchr/testify/require"
)

// refusalBound is how long a client refused by a secure cluster may take
// to say so; anything near it would be a hang, not a refusal.
const refusalBound = 20 * time.Second

// TestSecureCluster runs the client over TLS against one three-node
// cluster started without --insecure, as admin, as ops, without
// credentials, with a wrong password, and without TLS.
func TestSecureCluster(t *testing.T) {
	g := startSecureCluster(t)
	admin := connect(t, g.secureConnString("admin:changeit"))

	t.Run("admin appends, reads a stream and $all, and subscribes", func(t *testing.T) {
		stream := uniqueName("secure-admin")
		events := makeEvents(3, "SecureEvent", 0)
		appendEvents(t, admin, stream, kurrentdb.NoStream{}, events...)
		got := mustReadStream(t, admin, stream, kurrentdb.ReadStreamOptions{Direction: kurrentdb.Forwards, From: kurrentdb.Start{}}, 100)
		require.Equal(t, ids(events), eventIDs(got))

		all := mustReadAll(t, admin, kurrentdb.ReadAllOptions{Direction: kurrentdb.Backwards, From: kurrentdb.End{}}, 1000)
		require.Equal(t, reversed(ids(events)), eventIDs(inStreams(all, stream)), "$all backwards holds the stream's events")

		sub, err := admin.SubscribeToStream(opContext(t), stream, kurrentdb.SubscribeToStreamOptions{From: kurrentdb.Start{}})
		require.NoError(t, err, "subscribe to %s as admin", stream)
		w := watch(t, sub, nil)
		w.until(t, "the 3 stored events and caught-up", func(items []item) bool { return countEvents(items) == 3 && hasCaughtUp(items) })
		live := makeEvents(1, "SecureLive", 0)
		appendEvents(t, admin, stream, kurrentdb.StreamRevision{Value: 2}, live...)
		w.until(t, "the live event", func(items []item) bool { return countEvents(items) == 4 })
		require.Equal(t, append(ids(events), ids(live)...), eventIDs(w.events()))
	})

	t.Run("ops uses user streams but may not read $all", func(t *testing.T) {
		ops := connect(t, g.secureConnString("ops:changeit"))
		stream := uniqueName("secure-ops")
		events := makeEvents(2, "OpsEvent", 0)
		appendEvents(t, ops, stream, kurrentdb.NoStream{}, events...)
		require.Equal(t, ids(events), eventIDs(mustReadStream(t, ops, stream, kurrentdb.ReadStreamOptions{From: kurrentdb.Start{}}, 100)))

		_, err := readAll(opContext(t), ops, kurrentdb.ReadAllOptions{From: kurrentdb.Start{}}, 10)
		requireCode(t, err, kurrentdb.ErrorCodeAccessDenied, "read $all as ops")
	})

	t.Run("no credentials: the client connects but stream operations are denied", func(t *testing.T) {
		anon := connect(t, g.secureConnString(""))
		// Gossip is served to anyone: discovery and this call work.
		members, err := anon.Gossip(opContext(t))
		require.NoError(t, err, "gossip without credentials")
		require.Len(t, members, 3, "gossip without credentials lists the three nodes")

		stream := uniqueName("secure-anon")
		_, err = anon.AppendToStream(opContext(t), stream, kurrentdb.AppendToStreamOptions{}, makeEvents(1, "AnonEvent", 0)...)
		requireCode(t, err, kurrentdb.ErrorCodeAccessDenied, "append without credentials")

		appendEvents(t, admin, stream, kurrentdb.NoStream{}, makeEvents(1, "AdminEvent", 0)...)
		_, err = readStream(opContext(t), anon, stream, kurrentdb.ReadStreamOptions{From: kurrentdb.Start{}}, 10)
		requireCode(t, err, kurrentdb.ErrorCodeAccessDenied, "read a stream without credentials")
	})

	t.Run("a wrong password is unauthenticated", func(t *testing.T) {
		bad := connect(t, g.secureConnString("admin:not-the-password"))
		stream := uniqueName("secure-badpw")
		_, err := bad.AppendToStream(opContext(t), stream, kurrentdb.AppendToStreamOptions{}, makeEvents(1, "BadEvent", 0)...)
		requireCode(t, err, kurrentdb.ErrorCodeUnauthenticated, "append with a wrong password")
		_, err = readStream(opContext(t), bad, stream, kurrentdb.ReadStreamOptions{From: kurrentdb.Start{}}, 10)
		requireCode(t, err, kurrentdb.ErrorCodeUnauthenticated, "read with a wrong password")
	})

	t.Run("tls=false is refused promptly, naming TLS", func(t *testing.T) {
		plain := connect(t, "esdb://admin:changeit@"+strings.Join(g.endpoints(), ",")+"?tls=false")
		ctx, cancel := context.WithTimeout(context.Background(), refusalBound)
		defer cancel()
		started := time.Now()
		_, err := plain.AppendToStream(ctx, uniqueName("secure-plain"), kurrentdb.AppendToStreamOptions{}, makeEvents(1, "PlainEvent", 0)...)
		took := time.Since(started)
		require.Less(t, took, refusalBound, "the refusal came only at the deadline (%v): %v", refusalBound, err)
		requireCode(t, err, kurrentdb.ErrorUnavailable, "append with tls=false to a secure cluster")
		require.Contains(t, strings.ToLower(err.Error()), "tls", "the refusal says TLS is needed: %v", err)
		t.Logf("tls=false refused after %v: %v", took.Round(time.Millisecond), err)
	})
}

// TestSecureNodeWithoutCertificates starts a node with neither --insecure
// nor certificates: it must exit at once, saying --insecure is the way out.
func TestSecureNodeWithoutCertificates(t *testing.T) {
	bin := annalBinary(t)
	dir := t.TempDir()
	args := []string{"--mem-db", "--node-ip", "127.0.0.1", "--replication-ip", "127.0.0.1",
		"--node-port", strconv.Itoa(freePort(t)), "--replication-port", strconv.Itoa(freePort(t))}
	ctx, cancel := context.WithTimeout(context.Background(), liveTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, args...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	cmd.Env = append(os.Environ(), "TMPDIR="+dir)
	cmd.Dir = dir
	err := cmd.Run()
	if ctx.Err() != nil {
		t.Fatalf("annal %s still ran after %v instead of refusing to start; stderr:\n%s", strings.Join(args, " "), liveTimeout, stderr.String())
	}
	var exit *exec.ExitError
	if !errors.As(err, &exit) {
		t.Fatalf("annal %s: want a non-zero exit, got %v; stdout:\n%s\nstderr:\n%s", strings.Join(args, " "), err, stdout.String(), stderr.String())
	}
	require.Contains(t, stderr.String(), "--insecure", "stderr of a node without certificates names --insecure (exit %d; stdout %q)", exit.ExitCode(), stdout.String())
}
