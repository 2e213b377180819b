package clienttests

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/kurrent-io/KurrentDB-Client-Go/kurrentdb"
)

const opTimeout = 15 * time.Second

// clientLog keeps what the client logs, to print it only when a test
// fails; the client's goroutines may log after the test has ended, when
// t.Logf is no longer allowed.
type clientLog struct {
	mu    sync.Mutex
	lines []string
}

func (l *clientLog) log(level kurrentdb.LogLevel, format string, args ...any) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.lines) < 2000 {
		l.lines = append(l.lines, time.Now().Format("15:04:05.000")+" ["+level+"] "+fmt.Sprintf(format, args...))
	}
}

var connectedTo = regexp.MustCompile(`(?:features retrieval on '([^']+)'|successfully connected to leader node (\S+))`)

// lastConnection is the node the client last connected to, from its log.
func (l *clientLog) lastConnection() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	for i := len(l.lines) - 1; i >= 0; i-- {
		if m := connectedTo.FindStringSubmatch(l.lines[i]); m != nil {
			return m[1] + m[2]
		}
	}
	return ""
}

// clientLogs finds a client's log from the client.
var clientLogs sync.Map // *kurrentdb.Client -> *clientLog

func (l *clientLog) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return strings.Join(l.lines, "\n")
}

// connect makes a client from a connection string; it is closed when the
// test ends, and its log is printed if the test failed.
func connect(t *testing.T, connString string) *kurrentdb.Client {
	t.Helper()
	cfg, err := kurrentdb.ParseConnectionString(connString)
	if err != nil {
		t.Fatalf("parse connection string %q: %v", connString, err)
	}
	logs := &clientLog{}
	cfg.Logger = logs.log
	c, err := kurrentdb.NewClient(cfg)
	if err != nil {
		t.Fatalf("new client for %q: %v", connString, err)
	}
	clientLogs.Store(c, logs)
	t.Cleanup(func() {
		_ = c.Close()
		clientLogs.Delete(c)
		if t.Failed() {
			t.Logf("client log for %s:\n%s", connString, logs)
		}
	})
	return c
}

var nameCounter atomic.Int64

// uniqueName gives every test its own streams and event types.
func uniqueName(prefix string) string {
	return fmt.Sprintf("%s-%d-%s", prefix, nameCounter.Add(1), uuid.NewString()[:8])
}

type payload struct {
	Index int `json:"index"`
}

func makeEvents(n int, eventType string, start int) []kurrentdb.EventData {
	out := make([]kurrentdb.EventData, n)
	for i := range out {
		data, _ := json.Marshal(payload{Index: start + i})
		out[i] = kurrentdb.EventData{
			EventID:     uuid.New(),
			EventType:   eventType,
			ContentType: kurrentdb.ContentTypeJson,
			Data:        data,
		}
	}
	return out
}

func ids(events []kurrentdb.EventData) []uuid.UUID {
	out := make([]uuid.UUID, len(events))
	for i, e := range events {
		out[i] = e.EventID
	}
	return out
}

func opContext(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), opTimeout)
	t.Cleanup(cancel)
	return ctx
}

func appendEvents(t *testing.T, c *kurrentdb.Client, stream string, state kurrentdb.StreamState, events ...kurrentdb.EventData) *kurrentdb.WriteResult {
	t.Helper()
	res, err := c.AppendToStream(opContext(t), stream, kurrentdb.AppendToStreamOptions{StreamState: state}, events...)
	if err != nil {
		t.Fatalf("append %d events to %s (expected %T %v): %v", len(events), stream, state, state, err)
	}
	return res
}

// drain reads a finite read to its end. The client panics on a message
// it does not expect in a finite read; that is turned into an error
// naming the server as the cause.
func drain(rs *kurrentdb.ReadStream) (out []*kurrentdb.ResolvedEvent, err error) {
	defer rs.Close()
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("the client panicked reading the response (%v): the server sent a ReadResp content a finite read must not carry", r)
		}
	}()
	for {
		ev, err := rs.Recv()
		if errors.Is(err, io.EOF) {
			return out, nil
		}
		if err != nil {
			return out, err
		}
		out = append(out, ev)
	}
}

func readStream(ctx context.Context, c *kurrentdb.Client, stream string, opts kurrentdb.ReadStreamOptions, count uint64) ([]*kurrentdb.ResolvedEvent, error) {
	rs, err := c.ReadStream(ctx, stream, opts, count)
	if err != nil {
		return nil, err
	}
	return drain(rs)
}

func mustReadStream(t *testing.T, c *kurrentdb.Client, stream string, opts kurrentdb.ReadStreamOptions, count uint64) []*kurrentdb.ResolvedEvent {
	t.Helper()
	evs, err := readStream(opContext(t), c, stream, opts, count)
	if err != nil {
		t.Fatalf("read %s (%+v, count %d): %v", stream, opts, count, err)
	}
	return evs
}

func readAll(ctx context.Context, c *kurrentdb.Client, opts kurrentdb.ReadAllOptions, count uint64) ([]*kurrentdb.ResolvedEvent, error) {
	rs, err := c.ReadAll(ctx, opts, count)
	if err != nil {
		return nil, err
	}
	return drain(rs)
}

func mustReadAll(t *testing.T, c *kurrentdb.Client, opts kurrentdb.ReadAllOptions, count uint64) []*kurrentdb.ResolvedEvent {
	t.Helper()
	rs, err := c.ReadAll(opContext(t), opts, count)
	if err != nil {
		t.Fatalf("read $all (%+v, count %d): %v", opts, count, err)
	}
	evs, err := drain(rs)
	if err != nil {
		t.Fatalf("read $all (%+v, count %d): %v", opts, count, err)
	}
	return evs
}

func revisions(evs []*kurrentdb.ResolvedEvent) []uint64 {
	out := make([]uint64, len(evs))
	for i, e := range evs {
		out[i] = e.OriginalEvent().EventNumber
	}
	return out
}

func eventIDs(evs []*kurrentdb.ResolvedEvent) []uuid.UUID {
	out := make([]uuid.UUID, len(evs))
	for i, e := range evs {
		out[i] = e.OriginalEvent().EventID
	}
	return out
}

func inStreams(evs []*kurrentdb.ResolvedEvent, streams ...string) []*kurrentdb.ResolvedEvent {
	var out []*kurrentdb.ResolvedEvent
	for _, e := range evs {
		for _, s := range streams {
			if e.OriginalEvent().StreamID == s {
				out = append(out, e)
				break
			}
		}
	}
	return out
}

func reversed[T any](in []T) []T {
	out := make([]T, len(in))
	for i, v := range in {
		out[len(in)-1-i] = v
	}
	return out
}

// errorCode is the client's ErrorCode in err, or -1 with a description
// when err is not a client error.
func errorCode(err error) (kurrentdb.ErrorCode, bool) {
	var kerr *kurrentdb.Error
	if errors.As(err, &kerr) {
		return kerr.Code(), true
	}
	return -1, false
}

var codeNames = map[kurrentdb.ErrorCode]string{
	kurrentdb.ErrorCodeUnknown:               "ErrorCodeUnknown",
	kurrentdb.ErrorCodeUnsupportedFeature:    "ErrorCodeUnsupportedFeature",
	kurrentdb.ErrorCodeDeadlineExceeded:      "ErrorCodeDeadlineExceeded",
	kurrentdb.ErrorCodeUnauthenticated:       "ErrorCodeUnauthenticated",
	kurrentdb.ErrorCodeResourceNotFound:      "ErrorCodeResourceNotFound",
	kurrentdb.ErrorCodeResourceAlreadyExists: "ErrorCodeResourceAlreadyExists",
	kurrentdb.ErrorCodeConnectionClosed:      "ErrorCodeConnectionClosed",
	kurrentdb.ErrorCodeWrongExpectedVersion:  "ErrorCodeWrongExpectedVersion",
	kurrentdb.ErrorCodeAccessDenied:          "ErrorCodeAccessDenied",
	kurrentdb.ErrorCodeStreamDeleted:         "ErrorCodeStreamDeleted",
	kurrentdb.ErrorCodeParsing:               "ErrorCodeParsing",
	kurrentdb.ErrorCodeInternalClient:        "ErrorCodeInternalClient",
	kurrentdb.ErrorCodeInternalServer:        "ErrorCodeInternalServer",
	kurrentdb.ErrorCodeNotLeader:             "ErrorCodeNotLeader",
	kurrentdb.ErrorAborted:                   "ErrorAborted",
	kurrentdb.ErrorUnavailable:               "ErrorUnavailable",
}

func codeName(c kurrentdb.ErrorCode) string {
	if n, ok := codeNames[c]; ok {
		return n
	}
	return fmt.Sprintf("ErrorCode(%d)", c)
}

// requireCode fails the test unless err carries the client error code want.
func requireCode(t *testing.T, err error, want kurrentdb.ErrorCode, what string) {
	t.Helper()
	if err == nil {
		t.Fatalf("%s: want %s, but it succeeded", what, codeName(want))
	}
	got, ok := errorCode(err)
	if !ok {
		t.Fatalf("%s: want %s, got an error that is not a *kurrentdb.Error: %v", what, codeName(want), err)
	}
	if got != want {
		t.Fatalf("%s: want %s, got %s: %v", what, codeName(want), codeName(got), err)
	}
}

// watcher records what a catch-up subscription delivers, in order.
type watcher struct {
	sub  *kurrentdb.Subscription
	keep func(*kurrentdb.ResolvedEvent) bool

	mu      sync.Mutex
	items   []item
	dropped error
	done    chan struct{}
}

type item struct {
	caughtUp bool
	event    *kurrentdb.ResolvedEvent
}

func (i item) String() string {
	if i.caughtUp {
		return "caughtUp"
	}
	e := i.event.OriginalEvent()
	return fmt.Sprintf("%s@%d:%s", e.StreamID, e.EventNumber, e.EventType)
}

// watch reads sub in the background until it drops; the subscription is
// closed, and the reader awaited, when the test ends.
func watch(t *testing.T, sub *kurrentdb.Subscription, keep func(*kurrentdb.ResolvedEvent) bool) *watcher {
	w := &watcher{sub: sub, keep: keep, done: make(chan struct{})}
	go w.run()
	t.Cleanup(func() {
		_ = sub.Close()
		select {
		case <-w.done:
		case <-time.After(10 * time.Second):
			t.Errorf("a subscription's reader did not stop within 10 s of Close")
		}
	})
	return w
}

func (w *watcher) run() {
	defer close(w.done)
	for {
		ev := w.sub.Recv()
		w.mu.Lock()
		switch {
		case ev.SubscriptionDropped != nil:
			w.dropped = ev.SubscriptionDropped.Error
			w.mu.Unlock()
			return
		case ev.CaughtUp != nil:
			w.items = append(w.items, item{caughtUp: true})
		case ev.EventAppeared != nil:
			if w.keep == nil || w.keep(ev.EventAppeared) {
				w.items = append(w.items, item{event: ev.EventAppeared})
			}
		}
		w.mu.Unlock()
	}
}

func (w *watcher) snapshot() ([]item, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return append([]item(nil), w.items...), w.dropped
}

func (w *watcher) events() []*kurrentdb.ResolvedEvent {
	items, _ := w.snapshot()
	var out []*kurrentdb.ResolvedEvent
	for _, i := range items {
		if !i.caughtUp {
			out = append(out, i.event)
		}
	}
	return out
}

// until waits for cond over what has been delivered so far.
func (w *watcher) until(t *testing.T, what string, cond func(items []item) bool) []item {
	t.Helper()
	deadline := time.Now().Add(opTimeout)
	for {
		items, dropped := w.snapshot()
		if cond(items) {
			return items
		}
		if dropped != nil {
			t.Fatalf("subscription dropped while waiting for %s: %v; delivered %v", what, dropped, items)
		}
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s; delivered %v", opTimeout, what, items)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// untilDropped waits for the subscription to be dropped, and returns what
// it delivered before and why it was dropped.
func (w *watcher) untilDropped(t *testing.T) ([]item, error) {
	t.Helper()
	deadline := time.Now().Add(opTimeout)
	for {
		items, dropped := w.snapshot()
		if dropped != nil {
			return items, dropped
		}
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for the subscription to be dropped; delivered %v", opTimeout, items)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func countEvents(items []item) int {
	n := 0
	for _, i := range items {
		if !i.caughtUp {
			n++
		}
	}
	return n
}

func hasCaughtUp(items []item) bool {
	for _, i := range items {
		if i.caughtUp {
			return true
		}
	}
	return false
}
