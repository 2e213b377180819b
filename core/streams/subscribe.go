package streams

import (
	"fmt"
	"math"
	"slices"
	"time"

	"github.com/annal-db/annal/core/member"
	"github.com/annal-db/annal/core/streams/filter"
)

// Subscription is a catch-up subscription to one stream or to $all. It
// delivers Confirmed, then history, then CaughtUp, then live events, each
// message to the sink only against credits the consumer granted with
// Request (one message, one credit; the final Dropped needs none).
//
// It never holds more than Config.SubscriptionBuffer messages (and about
// SubscriptionBufferBytes of events) for its consumer: it pulls events only
// into free room, from the ring of recent events while it can and from the
// log otherwise, so a consumer without credits costs one full buffer and
// nothing more. Every committed event of the stream (or every one of $all
// that passes the filter) is delivered exactly once, in order; events the
// stream's metadata hides when they are reached are skipped.
type Subscription struct {
	s    *Service
	id   string
	sink func(Message)

	all      bool
	stream   string
	now      time.Time // stream subscriptions judge $maxAge against it
	filter   *filter.Filter
	interval int // checkpoint interval in considered events (0: none)
	// considered counts events run through the filter.
	considered int
	// lastCheckpoint is the position of the last Checkpoint pushed (-1:
	// none), so that none is sent twice.
	lastCheckpoint int64
	// caughtUpThrough: the subscription handled events while not live (it
	// is catching up, from the start, a position or after falling behind),
	// so going live ends a catch-up, which a filtered subscription marks
	// with a checkpoint.
	caughtUpThrough bool

	// $all: the last event handled (delivered, filtered out or skipped);
	// readFrom is a log position to read from when it is past after (no
	// event lies between them), else the read starts at after.
	after    int64
	readFrom int64
	// afterUnchecked: after is the client's position, which need not be
	// where a record starts, so the log is read from a mark before it.
	afterUnchecked bool
	// Stream: the next revision to deliver.
	nextRev int64

	buf       []Message // circular, capacity SubscriptionBuffer
	head, n   int
	bytes     int
	highWater int
	terminal  *Message // the final Dropped, held outside the buffer
	pushes    uint64   // messages ever buffered (and the terminal), to see progress

	credits    int
	live       bool // delivered everything applied since the last (re)start
	reading    bool // a log read is in flight
	registered bool
	closed     bool
	pumping    bool
	again      bool
}

// SubscribeToStream subscribes to one stream. The stream need not exist
// yet; one already tombstoned is refused with StreamDeletedError (there is
// no subscription, so no confirmation), and a later tombstone ends the
// subscription with it. A subscription still catching up when the
// tombstone is applied delivers nothing more of the stream (what is
// already buffered still goes); a live one gets the events committed
// before the tombstone, the tombstone event itself, then the drop, as
// EventStoreDB's do.
func (s *Service) SubscribeToStream(req SubscribeStreamRequest, sink func(Message)) (*Subscription, error) {
	if req.Stream == "" {
		return nil, invalid("the stream name is empty")
	}
	if req.Stream == AllStream {
		return nil, invalid("subscribe to %q with SubscribeToAll", AllStream)
	}
	if req.Now.IsZero() {
		return nil, invalid("the subscription has no Now; the node must pass its wall clock (env.Clock.Wall) for $maxAge")
	}
	if st := s.idx.get(req.Stream); st != nil && st.tombstoned() {
		return nil, &StreamDeletedError{Stream: req.Stream}
	}
	sub, err := s.newSubscription(sink)
	if err != nil {
		return nil, err
	}
	sub.stream, sub.now = req.Stream, req.Now
	st := s.idx.get(req.Stream)
	switch req.From.kind {
	case fromStart:
		sub.nextRev = 0
	case fromEnd:
		sub.nextRev = 0
		if st != nil {
			sub.nextRev = st.last() + 1
		}
	case fromAfter:
		if req.From.value < 0 {
			return nil, invalid("subscription to %q after revision %d: revisions start at 0", req.Stream, req.From.value)
		}
		sub.nextRev = req.From.value + 1
		if req.From.value == math.MaxInt64 {
			sub.nextRev = math.MaxInt64 // no revision lies after it
		}
	default:
		return nil, invalid("a subscription starts at the start, the end or after a revision, not %v", req.From)
	}
	s.register(sub)
	return sub, nil
}

// SubscribeToAll subscribes to $all, optionally filtered; a filtered
// subscription also sends a Checkpoint every MaxSearchWindow ×
// CheckpointIntervalMultiplier events considered.
func (s *Service) SubscribeToAll(req SubscribeAllRequest, sink func(Message)) (*Subscription, error) {
	f, interval, err := compileFilter(req.Filter)
	if err != nil {
		return nil, err
	}
	sub, err := s.newSubscription(sink)
	if err != nil {
		return nil, err
	}
	sub.all, sub.filter, sub.interval = true, f, interval
	sub.lastCheckpoint = -1
	switch req.From.kind {
	case fromStart:
		sub.after = -1
	case fromEnd:
		sub.after = s.idx.lastPos
	case fromAfter:
		if req.From.value < 0 {
			return nil, invalid("a $all subscription after position %d: positions start at 0", req.From.value)
		}
		sub.after, sub.afterUnchecked = req.From.value, true
	default:
		return nil, invalid("a subscription starts at the start, the end or after a position, not %v", req.From)
	}
	sub.readFrom = -1
	s.register(sub)
	return sub, nil
}

func (s *Service) newSubscription(sink func(Message)) (*Subscription, error) {
	if sink == nil {
		return nil, invalid("a subscription needs a sink")
	}
	if len(s.subs) >= s.cfg.MaxSubscriptions {
		return nil, &TooBusyError{What: "subscriptions", Limit: s.cfg.MaxSubscriptions}
	}
	id := s.cfg.NewID()
	return &Subscription{s: s, id: member.ID(id).String(), sink: sink, buf: make([]Message, s.cfg.SubscriptionBuffer)}, nil
}

func (s *Service) register(sub *Subscription) {
	sub.registered = true
	s.subs = append(s.subs, sub)
	if !sub.all {
		s.streamSubs[sub.stream] = append(s.streamSubs[sub.stream], sub)
	}
	sub.push(Message{Kind: Confirmed, SubscriptionID: sub.id})
	sub.pump()
}

func (s *Service) unregister(sub *Subscription) {
	if !sub.registered {
		return
	}
	sub.registered = false
	s.subs = slices.DeleteFunc(s.subs, func(x *Subscription) bool { return x == sub })
	if !sub.all {
		list := slices.DeleteFunc(s.streamSubs[sub.stream], func(x *Subscription) bool { return x == sub })
		if len(list) == 0 {
			delete(s.streamSubs, sub.stream)
		} else {
			s.streamSubs[sub.stream] = list
		}
	}
}

// wake lets subscriptions pull what Apply just added.
func (s *Service) wake(touched []string) {
	var woken []*Subscription
	for _, sub := range s.subs {
		if sub.all {
			woken = append(woken, sub)
		}
	}
	for _, name := range touched {
		woken = append(woken, s.streamSubs[name]...)
	}
	for _, sub := range woken {
		sub.pump()
	}
}

// ID is the subscription's id, as Confirmed carries it.
func (sub *Subscription) ID() string { return sub.id }

// Request grants n more credits: the subscription may deliver n more
// messages. Messages are delivered before Request returns when any are
// ready.
func (sub *Subscription) Request(n int) {
	if n <= 0 || sub.closed {
		return
	}
	sub.credits = int(min(int64(sub.credits)+int64(n), math.MaxInt32))
	sub.pump()
}

// Withdraw takes back the credits the consumer granted and the
// subscription has not used yet, and returns how many: nothing more is
// delivered (but a final Dropped) until Request grants more. A sink may
// call it, to stop deliveries at once; a consumer that bounds the bytes it
// holds does, and grants them again once it has taken enough.
func (sub *Subscription) Withdraw() int {
	n := sub.credits
	sub.credits = 0
	return n
}

// Close ends the subscription; nothing more is delivered.
func (sub *Subscription) Close() {
	if sub.closed {
		return
	}
	sub.closed = true
	sub.s.unregister(sub)
	clear(sub.buf)
	sub.n, sub.bytes = 0, 0
}

// Buffered is the number of messages held for the consumer; it never
// exceeds Config.SubscriptionBuffer.
func (sub *Subscription) Buffered() int { return sub.n }

// BufferedBytes is the event bytes held for the consumer.
func (sub *Subscription) BufferedBytes() int { return sub.bytes }

// HighWater is the most messages the subscription ever held.
func (sub *Subscription) HighWater() int { return sub.highWater }

// Credits is the number of messages the consumer still allows.
func (sub *Subscription) Credits() int { return sub.credits }

// Live reports whether the subscription has delivered (or buffered)
// everything applied so far and takes new events as they come.
func (sub *Subscription) Live() bool { return sub.live }

func (sub *Subscription) room() int { return len(sub.buf) - sub.n }

// roomToRead: a log read waits until the consumer has taken half of the
// buffer, so reads come in batches rather than one event at a time.
func (sub *Subscription) roomToRead() bool {
	return sub.n <= len(sub.buf)/2 && sub.bytes <= sub.s.cfg.SubscriptionBufferBytes/2
}

func (sub *Subscription) fitsEvent(size int) bool {
	return sub.n < len(sub.buf) && (sub.n == 0 || sub.bytes+size <= sub.s.cfg.SubscriptionBufferBytes)
}

func (sub *Subscription) push(m Message) {
	if sub.n == len(sub.buf) {
		panic("streams: subscription buffer overflow") // callers check room first
	}
	sub.buf[(sub.head+sub.n)%len(sub.buf)] = m
	sub.n++
	sub.pushes++
	if m.Kind == EventAppeared {
		sub.bytes += m.Event.size()
	}
	sub.highWater = max(sub.highWater, sub.n)
}

func (sub *Subscription) pop() Message {
	m := sub.buf[sub.head]
	sub.buf[sub.head] = Message{}
	sub.head = (sub.head + 1) % len(sub.buf)
	sub.n--
	if m.Kind == EventAppeared {
		sub.bytes -= m.Event.size()
	}
	return m
}

// drop ends the subscription with err once the buffered messages are
// delivered.
func (sub *Subscription) drop(err error) {
	if sub.terminal != nil || sub.closed {
		return
	}
	sub.terminal = &Message{Kind: Dropped, Err: err}
	sub.pushes++
	sub.s.unregister(sub)
}

// pump delivers what credits allow, then refills the buffer. Re-entrant
// calls (a sink requesting credits, a log answering synchronously) only ask
// the running pump to go round again.
func (sub *Subscription) pump() {
	if sub.pumping {
		sub.again = true
		return
	}
	sub.pumping = true
	defer func() { sub.pumping = false }()
	for {
		sub.again = false
		sub.deliver()
		if sub.closed {
			return
		}
		before := sub.pushes
		sub.fill()
		if !sub.again && sub.pushes == before {
			return
		}
	}
}

func (sub *Subscription) deliver() {
	for !sub.closed {
		switch {
		case sub.n > 0 && sub.credits > 0:
			sub.credits--
			sub.sink(sub.pop())
		case sub.n == 0 && sub.terminal != nil:
			m := *sub.terminal
			sub.Close()
			sub.sink(m)
		default:
			return
		}
	}
}

func (sub *Subscription) fill() {
	if sub.closed || sub.reading || sub.terminal != nil {
		return
	}
	if sub.all {
		sub.fillAll()
	} else {
		sub.fillStream()
	}
}

// fellBehind leaves the live state when the next event must come from the
// log; it reports whether there was room to say so. A filtered $all
// subscription also checkpoints where it got to, as EventStoreDB's does
// before it catches up again.
func (sub *Subscription) fellBehind() bool {
	if !sub.live {
		return true
	}
	cp := sub.checkpointDue()
	if sub.room() < 1+btoi(cp) {
		return false
	}
	sub.live = false
	sub.push(Message{Kind: FellBehind})
	if cp {
		sub.pushCheckpoint(sub.after)
	}
	return true
}

// goLive marks the end of a catch-up: a filtered $all subscription that
// caught up through history first checkpoints at the last event it
// considered, as EventStoreDB's does, so that a subscriber whose filter
// matched nothing still learns how far it got. It reports whether there
// was room.
func (sub *Subscription) goLive(caughtUp Message) bool {
	cp := sub.caughtUpThrough && sub.checkpointDue()
	if sub.room() < 1+btoi(cp) {
		return false
	}
	if cp {
		sub.pushCheckpoint(sub.after)
	}
	sub.live, sub.caughtUpThrough = true, false
	sub.push(caughtUp)
	return true
}

// checkpointDue: a filtered $all subscription has considered events past
// its last checkpoint.
func (sub *Subscription) checkpointDue() bool {
	return sub.all && sub.interval > 0 && sub.after >= 0 && sub.after > sub.lastCheckpoint
}

func (sub *Subscription) pushCheckpoint(pos int64) {
	sub.push(Message{Kind: Checkpoint, Position: pos})
	sub.lastCheckpoint = pos
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}

func (sub *Subscription) fillAll() {
	ring := &sub.s.ring
	for sub.room() > 0 {
		if sub.after >= sub.s.idx.lastPos {
			if !sub.live {
				sub.goLive(Message{Kind: CaughtUp, Position: sub.after, Revision: NoRevision})
			}
			return
		}
		i, ok := ring.firstAfter(sub.after)
		if !ok {
			if sub.fellBehind() && sub.roomToRead() {
				sub.readAll()
			}
			return
		}
		if !sub.handle(*ring.at(i)) {
			return
		}
	}
}

// handle runs one $all event through the filter into the buffer; false
// when there is no room for what it produces.
func (sub *Subscription) handle(ev Event) bool {
	match := sub.filter.Match(ev.Stream, ev.Type)
	checkpoint := sub.interval > 0 && (sub.considered+1)%sub.interval == 0
	need := 0
	if match {
		need++
		if !sub.fitsEvent(ev.size()) {
			return false
		}
	}
	if checkpoint {
		need++
	}
	if need > sub.room() {
		return false
	}
	if sub.interval > 0 {
		sub.considered++
	}
	if match {
		sub.push(Message{Kind: EventAppeared, Event: ev})
	}
	if checkpoint {
		sub.pushCheckpoint(ev.Position)
	}
	sub.after, sub.afterUnchecked = ev.Position, false
	if !sub.live {
		sub.caughtUpThrough = true
	}
	return true
}

func (sub *Subscription) readAll() {
	from := max(sub.after, 0)
	switch {
	case sub.readFrom > sub.after:
		from = sub.readFrom
	case sub.afterUnchecked:
		// From a mark before the client's position, or from where the
		// reads since got to.
		from = max(sub.s.idx.boundaryAtOrBefore(from), sub.readFrom)
	}
	upTo := sub.s.log.Committed()
	sub.reading = true
	sub.s.log.ReadForward(from, upTo, sub.s.cfg.ReadChunkBytes, func(evs []Event, next int64, err error) {
		sub.reading = false
		if sub.closed {
			return
		}
		if err == nil && len(evs) == 0 {
			err = fmt.Errorf("the log returned nothing in [%d, %d) where events were applied", from, upTo)
		}
		if err != nil {
			sub.drop(fmt.Errorf("subscription to $all reading the log from %d: %w", from, err))
			sub.pump()
			return
		}
		before, beforeFrom := sub.after, sub.readFrom
		sub.readFrom = next
		for _, ev := range evs {
			if ev.Position <= sub.after {
				continue
			}
			if ev.Position > sub.s.idx.lastPos || !sub.handle(ev) {
				sub.readFrom = ev.Position
				break
			}
		}
		// Without progress (the first event did not fit) the next read
		// waits for the consumer, who pumps when it takes messages.
		if sub.after != before || sub.readFrom != beforeFrom {
			sub.pump()
		}
	})
}

func (sub *Subscription) fillStream() {
	ring := &sub.s.ring
	if st := sub.s.idx.get(sub.stream); st != nil && st.tombstoned() && !sub.live {
		// A read of a tombstoned stream says it is deleted and returns
		// none of its events; so does a catching-up subscription. A live
		// one was handed each event as it committed, so it still gets
		// those that came with the tombstone, then the drop.
		sub.drop(&StreamDeletedError{Stream: sub.stream})
		return
	}
	for sub.room() > 0 {
		st := sub.s.idx.get(sub.stream)
		last := int64(NoRevision)
		if st != nil {
			last = st.last()
		}
		if sub.nextRev > last {
			if st != nil && st.tombstoned() {
				// Live, and handed everything before it: the tombstone
				// event goes too, while the ring holds it.
				if ev, ok := ring.find(st.tombstone); ok {
					if !sub.fitsEvent(ev.size()) {
						return
					}
					sub.push(Message{Kind: EventAppeared, Event: *ev})
				}
				sub.drop(&StreamDeletedError{Stream: sub.stream})
				return
			}
			if !sub.live {
				sub.live = true
				sub.push(Message{Kind: CaughtUp, Revision: sub.nextRev - 1, Position: -1})
			}
			return
		}
		vis := sub.s.idx.visibilityOf(sub.stream, last)
		if sub.nextRev < vis.min {
			// A soft delete hides everything up to the end; a recreate
			// starts after it.
			sub.nextRev = min(vis.min, last+1)
			continue
		}
		ev, ok := ring.find(st.positions[sub.nextRev])
		if !ok {
			if sub.fellBehind() && sub.roomToRead() {
				sub.readStream(st, last)
			}
			return
		}
		if ev.Created < ageLimit(sub.now, vis.maxAge) {
			sub.nextRev++
			continue
		}
		if !sub.fitsEvent(ev.size()) {
			return
		}
		sub.push(Message{Kind: EventAppeared, Event: *ev})
		sub.nextRev++
	}
}

func (sub *Subscription) readStream(st *stream, last int64) {
	hi := min(last, sub.nextRev+int64(min(sub.room(), readBatch))-1)
	positions := st.positions[sub.nextRev : hi+1]
	budget := max(sub.s.cfg.SubscriptionBufferBytes-sub.bytes, 1)
	sub.reading = true
	sub.s.fetch(positions, budget, func(evs []Event, err error) {
		sub.reading = false
		if sub.closed {
			return
		}
		if err != nil {
			sub.drop(fmt.Errorf("subscription to %q reading revision %d: %w", sub.stream, sub.nextRev, err))
			sub.pump()
			return
		}
		if sub.s.idx.get(sub.stream).tombstoned() {
			// Tombstoned while the read was in flight: what it read is
			// deleted now, and the pump drops the subscription.
			sub.pump()
			return
		}
		vis := sub.s.idx.visibilityOf(sub.stream, sub.s.idx.get(sub.stream).last())
		limit := ageLimit(sub.now, vis.maxAge)
		before := sub.nextRev
		defer func() {
			if sub.nextRev != before || sub.terminal != nil {
				sub.pump()
			}
		}()
		for _, ev := range evs {
			if ev.Stream != sub.stream || ev.Number != sub.nextRev {
				sub.drop(fmt.Errorf("subscription to %q: the log holds %d@%q where the index has revision %d", sub.stream, ev.Number, ev.Stream, sub.nextRev))
				break
			}
			if ev.Number < vis.min || ev.Created < limit {
				sub.nextRev++
				continue
			}
			if !sub.fitsEvent(ev.size()) {
				break
			}
			sub.push(Message{Kind: EventAppeared, Event: ev})
			sub.nextRev++
		}
	})
}
