package netstack

import (
	"errors"
	"testing"
	"time"

	"github.com/annal-db/annal/core/env"
	"github.com/annal-db/annal/realnet/loop"
)

func TestNewRejectsNegativeOptions(t *testing.T) {
	l := loop.New("opts", 0)
	defer l.Stop()
	for _, o := range []Options{{SendQueueLimit: -1}, {SendQueueBytes: -5}, {ConnectTimeout: -1}, {SniffTimeout: -1}} {
		if _, err := New(l, o); err == nil {
			t.Fatalf("New accepted %+v; negative bounds must be refused", o)
		}
	}
}

func TestStackCloseEndsEverythingAndReportsNothing(t *testing.T) {
	a := newNode(t, "a", Options{})
	b := newNode(t, "b", Options{})
	aEvents := newRecorder()
	ln := a.listen(aEvents.accept)
	h := newHandler()
	p := a.serve(h)
	bEvents := newRecorder()
	c := b.connect(ln.Addr(), bEvents)
	bEvents.next(t, "established")
	a.on(func() {}) // the accept has run
	outgoing := newRecorder()
	a.connect(ln.Addr(), outgoing) // a connection a dialed to itself
	outgoing.next(t, "established")

	res := make(chan error, 1)
	b.on(func() { b.net.Call(p.Addr(), "hold", nil, guard, func(_ []byte, err error) { res <- err }) })
	select {
	case <-h.held:
	case <-time.After(guard):
		t.Fatal("the held call never reached the handler")
	}

	a.net.Close()

	if e := bEvents.next(t, "closed"); !errors.Is(e.err, env.ErrClosed) && !errors.Is(e.err, env.ErrReset) {
		t.Fatalf("the peer of a closed stack saw %v; want env.ErrClosed or env.ErrReset", e.err)
	}
	if err := <-res; err == nil || errors.Is(err, env.ErrTimeout) {
		t.Fatalf("a call to a closed stack: %v; want the connection's break", err)
	}
	var err error
	a.on(func() { _, err = a.net.Listen(local, aEvents.accept) })
	if !errors.Is(err, env.ErrClosed) {
		t.Fatalf("Listen after Close: %v; want env.ErrClosed", err)
	}
	a.on(func() { _, err = a.net.ServeNode(local, h) })
	if !errors.Is(err, env.ErrClosed) {
		t.Fatalf("ServeNode after Close: %v; want env.ErrClosed", err)
	}
	a.on(func() {}) // anything the stack owed the loop has run by now
	aEvents.none(t)
	outgoing.none(t)
	var sendErr error
	b.on(func() { sendErr = c.Send([]byte("x")) })
	if !errors.Is(sendErr, env.ErrClosed) {
		t.Fatalf("Send on a connection whose peer closed: %v; want env.ErrClosed", sendErr)
	}
}
