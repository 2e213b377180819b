package trace

import (
	"bytes"
	"errors"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestTextLinesAreCanonical(t *testing.T) {
	var out bytes.Buffer
	tr := New(&out)
	tr.Rec(1500*time.Millisecond+350*time.Microsecond, "n1", "send").Str("conn", "2").Int("seq", -3).Uint("len", 101).
		Dur("rto", 200*time.Millisecond).Float("p", 0.25).Bytes("payload", []byte("hello")).Raw([]byte("state=Leader epoch=4")).End()
	tr.Rec(-time.Nanosecond, "", "clock").End()
	if err := tr.Flush(); err != nil {
		t.Fatal(err)
	}
	want := "+1.500350000s n1 send conn=2 seq=-3 len=101 rto=200ms p=0.25 payload=5B/crc:9a71bb4c state=Leader epoch=4\n" +
		"-0.000000001s - clock\n"
	if out.String() != want {
		t.Errorf("text:\n%s\nwant:\n%s", out.String(), want)
	}
	if tr.Records() != 2 {
		t.Errorf("Records() = %d, want 2", tr.Records())
	}
}

// write plays a fixed series of records, big payloads included.
func write(tr *Trace, from, to int) {
	big := bytes.Repeat([]byte{7}, 3*inlinePayload)
	for i := from; i < to; i++ {
		tr.Rec(time.Duration(i)*time.Millisecond, "n2", "deliver").Int("seq", int64(i)).Bytes("payload", big[:i%len(big)]).End()
	}
}

// The hash depends on the records alone: not on whether text is written,
// nor on where the batches handed to SHA-256 were cut.
func TestHashDependsOnTheRecordsAlone(t *testing.T) {
	const n = 2000
	plain := New(nil)
	write(plain, 0, n)
	var out bytes.Buffer
	text := New(&out)
	write(text, 0, n)
	cut := New(nil)
	for from := 0; from < n; from += 37 {
		write(cut, from, min(from+37, n))
		cut.Hash() // hands over what is batched so far
	}
	if h := plain.Hash(); h != text.Hash() || h != cut.Hash() {
		t.Errorf("same records, different hashes: %s (plain), %s (text), %s (cut)", h, text.Hash(), cut.Hash())
	}
	if out.Len() == 0 {
		t.Error("no text was written")
	}
}

func hashOf(f func(*Trace)) string {
	tr := New(nil)
	f(tr)
	return tr.Hash()
}

// Each part of a record counts, and two different series of fields never
// encode alike.
func TestHashSeesEveryDifference(t *testing.T) {
	big := bytes.Repeat([]byte{1}, 2*inlinePayload)
	bigger := bytes.Clone(big)
	bigger[len(bigger)-1] = 2
	base := func(tr *Trace) { tr.Rec(time.Second, "n1", "send").Str("conn", "2").Bytes("p", big).End() }
	variants := map[string]func(*Trace){
		"time":      func(tr *Trace) { tr.Rec(time.Second+1, "n1", "send").Str("conn", "2").Bytes("p", big).End() },
		"who":       func(tr *Trace) { tr.Rec(time.Second, "n2", "send").Str("conn", "2").Bytes("p", big).End() },
		"kind":      func(tr *Trace) { tr.Rec(time.Second, "n1", "sent").Str("conn", "2").Bytes("p", big).End() },
		"value":     func(tr *Trace) { tr.Rec(time.Second, "n1", "send").Str("conn", "3").Bytes("p", big).End() },
		"key":       func(tr *Trace) { tr.Rec(time.Second, "n1", "send").Str("conm", "2").Bytes("p", big).End() },
		"type":      func(tr *Trace) { tr.Rec(time.Second, "n1", "send").Int("conn", 2).Bytes("p", big).End() },
		"last byte": func(tr *Trace) { tr.Rec(time.Second, "n1", "send").Str("conn", "2").Bytes("p", bigger).End() },
		"boundary":  func(tr *Trace) { tr.Rec(time.Second, "n1", "send").Str("conn2", "").Bytes("p", big).End() },
		"record boundary": func(tr *Trace) {
			tr.Rec(time.Second, "n1", "send").Str("conn", "2").End()
			tr.Rec(0, "", "").Bytes("p", big).End()
		},
	}
	h := hashOf(base)
	for name, v := range variants {
		if hashOf(v) == h {
			t.Errorf("changing the %s left the hash unchanged", name)
		}
	}
	// Pre-rendered text is its own kind of field: were it tagged as a
	// string, these two series of fields would hash alike.
	a := hashOf(func(tr *Trace) { tr.Rec(0, "n1", "log").Raw([]byte("ab")).Str("", "\x00").End() })
	b := hashOf(func(tr *Trace) { tr.Rec(0, "n1", "log").Str("ab", "\x00").Raw(nil).End() })
	if a == b {
		t.Error("raw text followed by a string hashes like a string followed by raw text")
	}
}

type failingWriter struct{}

func (failingWriter) Write([]byte) (int, error) { return 0, errors.New("disk full") }

func TestFlushReportsAWriteError(t *testing.T) {
	tr := New(failingWriter{})
	for i := 0; i < 1000; i++ {
		tr.Rec(0, "n1", "send").Str("pad", strings.Repeat("x", 100)).End()
	}
	if err := tr.Flush(); err == nil || !strings.Contains(err.Error(), "disk full") {
		t.Errorf("Flush() = %v, want the writer's error", err)
	}
}

func TestTimesAreSecondsSinceTheStart(t *testing.T) {
	for _, tc := range []struct {
		at   time.Duration
		want string
	}{
		{0, "+0.000000000s"},
		{12*time.Second + 350*time.Microsecond, "+12.000350000s"},
		{10 * time.Minute, "+600.000000000s"},
		{-1500 * time.Millisecond, "-1.500000000s"},
	} {
		if got := string(AppendTime(nil, tc.at)); got != tc.want {
			t.Errorf("AppendTime(%v) = %q, want %q", tc.at, got, tc.want)
		}
	}
}

// One event is one line, whatever its strings hold: a log message or an
// error with a line break in it (errors.Join writes one) must not split
// its record into two lines, the second of which would read as another
// event with a made-up time. Such values are written quoted.
func TestAStringWithALineBreakStaysOnItsLine(t *testing.T) {
	var out bytes.Buffer
	tr := New(&out)
	tr.Rec(time.Second, "n1", "log").Str("level", "ERR").Str("msg", "first\n+2.000000000s n2 state state=Leader").End()
	tr.Rec(time.Second, "n1", "log").Str("msg", "plain words stay as they are").End()
	if err := tr.Flush(); err != nil {
		t.Fatal(err)
	}
	want := "+1.000000000s n1 log level=ERR msg=\"first\\n+2.000000000s n2 state state=Leader\"\n" +
		"+1.000000000s n1 log msg=plain words stay as they are\n"
	if out.String() != want {
		t.Errorf("text:\n%s\nwant:\n%s", out.String(), want)
	}
	if lines := strings.Count(out.String(), "\n"); lines != int(tr.Records()) {
		t.Errorf("%d lines for %d records", lines, tr.Records())
	}
}
