package bench

import (
	"testing"
	"time"
)

func TestMeasureGapAroundTheSignal(t *testing.T) {
	t0 := time.Unix(1000, 0)
	at := func(ms int) time.Time { return t0.Add(time.Duration(ms) * time.Millisecond) }
	w := func(start, end int, ok bool) writeRecord { return writeRecord{start: at(start), end: at(end), ok: ok} }
	signal := at(100)
	recs := []writeRecord{
		w(0, 2, true),
		w(90, 95, true),    // last ack before the signal
		w(98, 350, false),  // under way at the signal, fails after it
		w(360, 610, false), // fails
		w(620, 700, true),  // the first ack of a write issued after the signal
		w(710, 1500, true), // a longer pause later: the largest gap
		w(1510, 1515, true),
	}
	got := measureGap(recs, signal)
	want := FailoverResult{
		Recovered:        true,
		Gap:              605 * time.Millisecond, // 95 -> 700
		SignalToFirstAck: 600 * time.Millisecond, // 100 -> 700
		MaxAckGap:        800 * time.Millisecond, // 700 -> 1500
		FailedOps:        2,
		Writes:           7,
	}
	if got != want {
		t.Fatalf("measureGap = %+v\nwant          %+v", got, want)
	}
}

func TestMeasureGapIgnoresAWriteUnderWayAtTheSignal(t *testing.T) {
	t0 := time.Unix(1000, 0)
	at := func(ms int) time.Time { return t0.Add(time.Duration(ms) * time.Millisecond) }
	recs := []writeRecord{
		{start: at(0), end: at(5), ok: true},
		{start: at(99), end: at(120), ok: true}, // issued before the signal at 100
		{start: at(130), end: at(140), ok: true},
	}
	got := measureGap(recs, at(100))
	if !got.Recovered || got.SignalToFirstAck != 40*time.Millisecond || got.Gap != 135*time.Millisecond {
		t.Fatalf("measureGap = %+v; want the first ack of a write issued after the signal (140 ms): 40 ms after it, 135 ms after the last ack before", got)
	}
}

func TestMeasureGapWithoutRecovery(t *testing.T) {
	t0 := time.Unix(1000, 0)
	recs := []writeRecord{
		{start: t0, end: t0.Add(time.Millisecond), ok: true},
		{start: t0.Add(20 * time.Millisecond), end: t0.Add(270 * time.Millisecond), ok: false},
	}
	got := measureGap(recs, t0.Add(10*time.Millisecond))
	if got.Recovered || got.FailedOps != 1 || got.Writes != 2 || got.Gap != 0 {
		t.Fatalf("measureGap = %+v; want not recovered, 1 failed op of 2 writes, no gap", got)
	}
}
