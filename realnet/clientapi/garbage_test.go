package clientapi

import (
	"context"
	"errors"
	"io"
	"math/rand/v2"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/reflect/protoreflect"

	pb "github.com/annal-db/annal/realnet/clientapi/esdbpb/streamspb"
)

// TestMalformedRequestsAreInvalidArgument sends the request shapes the
// protocol forbids; each must be refused with INVALID_ARGUMENT before the
// node hears of it.
func TestMalformedRequestsAreInvalidArgument(t *testing.T) {
	n := newFakeNode()
	n.seed("s", "a")
	c := serve(t, n, Options{})
	ctx := testContext(t)

	good := func() *pb.ReadReq_Options { return readStreamReq("s", fromStart, false, 10, false).Options }
	filter := &pb.ReadReq_Options_Filter{Filter: &pb.ReadReq_Options_FilterOptions{
		Filter: &pb.ReadReq_Options_FilterOptions_StreamIdentifier{StreamIdentifier: &pb.ReadReq_Options_FilterOptions_Expression{Prefix: []string{"s"}}},
	}}
	reads := map[string]*pb.ReadReq{
		"no options":             {},
		"no stream option":       {Options: func() *pb.ReadReq_Options { o := good(); o.StreamOption = nil; return o }()},
		"no count option":        {Options: func() *pb.ReadReq_Options { o := good(); o.CountOption = nil; return o }()},
		"no uuid option":         {Options: func() *pb.ReadReq_Options { o := good(); o.UuidOption = nil; return o }()},
		"empty uuid option":      {Options: func() *pb.ReadReq_Options { o := good(); o.UuidOption = &pb.ReadReq_Options_UUIDOption{}; return o }()},
		"unknown direction":      {Options: func() *pb.ReadReq_Options { o := good(); o.ReadDirection = 7; return o }()},
		"stream with filter":     {Options: func() *pb.ReadReq_Options { o := good(); o.FilterOption = filter; return o }()},
		"backwards subscription": subscribeReq(&pb.ReadReq_Options{StreamOption: allOption(fromStart), ReadDirection: pb.ReadReq_Options_Backwards}),
		"no revision option": {Options: func() *pb.ReadReq_Options {
			o := good()
			o.StreamOption = &pb.ReadReq_Options_Stream{Stream: &pb.ReadReq_Options_StreamOptions{StreamIdentifier: streamID("s")}}
			return o
		}()},
		"no stream identifier": {Options: func() *pb.ReadReq_Options {
			o := good()
			o.StreamOption = &pb.ReadReq_Options_Stream{Stream: &pb.ReadReq_Options_StreamOptions{RevisionOption: &pb.ReadReq_Options_StreamOptions_Start{Start: empty()}}}
			return o
		}()},
		"invalid UTF-8 stream name": readStreamReq("\xff\xfe", fromStart, false, 1, false),
		"no all option": {Options: func() *pb.ReadReq_Options {
			o := good()
			o.StreamOption = &pb.ReadReq_Options_All{All: &pb.ReadReq_Options_AllOptions{}}
			return o
		}()},
		"empty filter": {Options: func() *pb.ReadReq_Options {
			o := readAllReq(fromStart, false, 1, nil).Options
			o.FilterOption = &pb.ReadReq_Options_Filter{Filter: &pb.ReadReq_Options_FilterOptions{}}
			return o
		}()},
	}
	for name, req := range reads {
		_, md, err := readToEndCtx(ctx, t, c, req)
		wantStatus(t, "read with "+name, md, err, codes.InvalidArgument)
	}

	event := proposed(idOf(1), false, "t", "application/json", "{}")
	appends := map[string][]*pb.AppendReq{
		"no messages":                {},
		"proposed message first":     {event, event},
		"second options":             {appendOptions("s", "any"), event, appendOptions("s", "any")},
		"empty message":              {{}},
		"options without stream":     {{Content: &pb.AppendReq_Options_{Options: &pb.AppendReq_Options{ExpectedStreamRevision: &pb.AppendReq_Options_Any{Any: empty()}}}}},
		"options without expected":   {{Content: &pb.AppendReq_Options_{Options: &pb.AppendReq_Options{StreamIdentifier: streamID("s")}}}},
		"empty message after option": {appendOptions("s", "any"), {}},
	}
	for name, msgs := range appends {
		_, md, err := appendCall(ctx, t, c, msgs)
		wantStatus(t, "append with "+name, md, err, codes.InvalidArgument)
	}

	for name, req := range map[string]*pb.DeleteReq{
		"no options":     {},
		"no stream":      {Options: &pb.DeleteReq_Options{ExpectedStreamRevision: &pb.DeleteReq_Options_Any{Any: empty()}}},
		"no expectation": {Options: &pb.DeleteReq_Options{StreamIdentifier: streamID("s")}},
	} {
		_, err := c.streams.Delete(ctx, req)
		wantStatus(t, "delete with "+name, nil, err, codes.InvalidArgument)
		_, err = c.streams.Tombstone(ctx, &pb.TombstoneReq{Options: tombstoneOptionsOf(req.Options)})
		wantStatus(t, "tombstone with "+name, nil, err, codes.InvalidArgument)
	}

	n.mu.Lock()
	defer n.mu.Unlock()
	if len(n.streamReads)+len(n.allReads)+len(n.appends)+len(n.deletes)+len(n.subscribes) != 0 {
		t.Fatalf("malformed requests reached the node: %d reads, %d $all reads, %d appends, %d deletes, %d subscriptions",
			len(n.streamReads), len(n.allReads), len(n.appends), len(n.deletes), len(n.subscribes))
	}
}

// tombstoneOptionsOf is the same options as a tombstone request's.
func tombstoneOptionsOf(o *pb.DeleteReq_Options) *pb.TombstoneReq_Options {
	if o == nil {
		return nil
	}
	t := &pb.TombstoneReq_Options{StreamIdentifier: o.StreamIdentifier}
	if o.ExpectedStreamRevision != nil {
		t.ExpectedStreamRevision = &pb.TombstoneReq_Options_Any{Any: empty()}
	}
	return t
}

// randomize fills m with random fields: each field set or not, one oneof
// member at random, nested messages to a bounded depth, values drawn from
// small sets that hit the interesting cases (zero, huge, negative enum).
func randomize(r *rand.Rand, m protoreflect.Message, depth int) {
	fields := m.Descriptor().Fields()
	for i := 0; i < fields.Len(); i++ {
		fd := fields.Get(i)
		if r.IntN(3) == 0 {
			continue
		}
		if od := fd.ContainingOneof(); od != nil && !od.IsSynthetic() && m.WhichOneof(od) != nil {
			continue // one member of a oneof at most
		}
		switch {
		case fd.IsMap():
			mp := m.Mutable(fd).Map()
			for _, k := range []string{"type", "content-type", "x"} {
				if r.IntN(2) == 0 {
					mp.Set(protoreflect.ValueOfString(k).MapKey(), protoreflect.ValueOfString(randomString(r)))
				}
			}
		case fd.IsList():
			l := m.Mutable(fd).List()
			for range r.IntN(3) {
				if fd.Kind() == protoreflect.MessageKind {
					if depth > 0 {
						e := l.NewElement()
						randomize(r, e.Message(), depth-1)
						l.Append(e)
					}
				} else {
					l.Append(randomScalar(r, fd))
				}
			}
		case fd.Kind() == protoreflect.MessageKind:
			if depth > 0 {
				randomize(r, m.Mutable(fd).Message(), depth-1)
			}
		default:
			m.Set(fd, randomScalar(r, fd))
		}
	}
}

// randomString draws strings that matter to the server; proto3 strings
// must be valid UTF-8 (the client refuses to send others).
// mutate changes one thing in a valid message: it clears a field,
// replaces it with random content, or mutates inside it.
func mutate(r *rand.Rand, m protoreflect.Message) {
	var set []protoreflect.FieldDescriptor
	m.Range(func(fd protoreflect.FieldDescriptor, _ protoreflect.Value) bool {
		set = append(set, fd)
		return true
	})
	if len(set) == 0 {
		randomize(r, m, 2)
		return
	}
	fd := set[r.IntN(len(set))]
	switch r.IntN(3) {
	case 0:
		m.Clear(fd)
	case 1:
		if fd.Kind() == protoreflect.MessageKind && !fd.IsList() && !fd.IsMap() {
			mutate(r, m.Mutable(fd).Message())
			return
		}
		fallthrough
	default:
		m.Clear(fd)
		randomize(r, m, 2)
	}
}

func randomString(r *rand.Rand) string {
	return []string{"", "s", "$all", "application/json", "0708090a-0b0c-4d0e-8f10-111213141516", "(", "order-"}[r.IntN(7)]
}

func randomScalar(r *rand.Rand, fd protoreflect.FieldDescriptor) protoreflect.Value {
	switch fd.Kind() {
	case protoreflect.BoolKind:
		return protoreflect.ValueOfBool(r.IntN(2) == 0)
	case protoreflect.EnumKind:
		return protoreflect.ValueOfEnum(protoreflect.EnumNumber([]int32{0, 1, 2, -1}[r.IntN(4)]))
	case protoreflect.StringKind:
		return protoreflect.ValueOfString(randomString(r))
	case protoreflect.BytesKind:
		if r.IntN(4) == 0 {
			return protoreflect.ValueOfBytes([]byte("\xff\xfe"))
		}
		return protoreflect.ValueOfBytes([]byte(randomString(r)))
	case protoreflect.Uint64Kind, protoreflect.Fixed64Kind:
		return protoreflect.ValueOfUint64([]uint64{0, 1, 3, 1 << 63, 1<<64 - 1}[r.IntN(5)])
	case protoreflect.Uint32Kind, protoreflect.Fixed32Kind:
		return protoreflect.ValueOfUint32([]uint32{0, 1, 5, 1<<32 - 1}[r.IntN(4)])
	case protoreflect.Int64Kind, protoreflect.Sint64Kind, protoreflect.Sfixed64Kind:
		return protoreflect.ValueOfInt64([]int64{0, 1, -1, 1 << 62, -1 << 63}[r.IntN(5)])
	case protoreflect.Int32Kind, protoreflect.Sint32Kind, protoreflect.Sfixed32Kind:
		return protoreflect.ValueOfInt32([]int32{0, 1, -1, 1 << 30}[r.IntN(4)])
	}
	return fd.Default()
}

// TestRandomRequestsNeverPanic sends randomly assembled requests of every
// kind. A panic in a handler would kill the test process; beyond that,
// every answer must be one the request can deserve.
func TestRandomRequestsNeverPanic(t *testing.T) {
	n := newFakeNode()
	n.seed("s", "a", "b")
	c := serve(t, n, Options{})
	r := rand.New(rand.NewPCG(1, 2))
	seen := map[codes.Code]int{}
	allowed := func(what string, err error, codesOK ...codes.Code) {
		t.Helper()
		got := endCode(err)
		seen[got]++
		for _, c := range append(codesOK, codes.OK, codes.InvalidArgument) {
			if got == c {
				return
			}
		}
		t.Fatalf("%s: status %v (%v), not one this request can deserve", what, got, err)
	}

	templates := []func() *pb.ReadReq{
		func() *pb.ReadReq { return readStreamReq("s", fromStart, false, 10, true) },
		func() *pb.ReadReq { return readAllReq(fromEnd, true, 3, nil) },
		func() *pb.ReadReq {
			return subscribeReq(&pb.ReadReq_Options{StreamOption: streamOption("s", fromAt(1))})
		},
		func() *pb.ReadReq {
			return subscribeReq(&pb.ReadReq_Options{StreamOption: allOption(fromStart), FilterOption: &pb.ReadReq_Options_Filter{Filter: &pb.ReadReq_Options_FilterOptions{
				Filter: &pb.ReadReq_Options_FilterOptions_EventType{EventType: &pb.ReadReq_Options_FilterOptions_Expression{Regex: "a"}},
			}}})
		},
	}
	for i := range 300 {
		req := &pb.ReadReq{}
		if i%2 == 0 {
			randomize(r, req.ProtoReflect(), 5)
		} else {
			req = templates[r.IntN(len(templates))]()
			for range 1 + r.IntN(2) {
				mutate(r, req.ProtoReflect())
			}
		}
		ctx, cancel := context.WithCancel(testContext(t))
		st, err := c.streams.Read(ctx, req)
		if err != nil {
			t.Fatalf("read %d: %v", i, err)
		}
		for {
			m, err := st.Recv()
			if err != nil {
				allowed("read "+req.String(), err, codes.Canceled)
				break
			}
			if m.GetConfirmation() != nil {
				cancel() // a valid subscription: end it here
			}
		}
		cancel()
	}

	// The generator must reach past validation, or it tests nothing.
	if seen[codes.OK] < 10 || seen[codes.InvalidArgument] < 10 || seen[codes.Canceled] < 5 {
		t.Fatalf("random reads ended %v; want a mix of OK, INVALID_ARGUMENT and cancelled subscriptions", seen)
	}
	clear(seen)

	for i := range 200 {
		var msgs []*pb.AppendReq
		if i%2 == 0 {
			for range r.IntN(4) {
				m := &pb.AppendReq{}
				randomize(r, m.ProtoReflect(), 4)
				msgs = append(msgs, m)
			}
		} else {
			msgs = []*pb.AppendReq{appendOptions("s", "any"), proposed(idOf(byte(i)), i%3 == 0, "t", "application/json", "{}"), proposed(idOf(byte(i+1)), false, "u", "x", "")}
			mutate(r, msgs[r.IntN(len(msgs))].ProtoReflect())
		}
		_, _, err := appendCall(testContext(t), t, c, msgs)
		allowed("append", err, codes.FailedPrecondition)
	}

	if seen[codes.OK] < 5 || seen[codes.InvalidArgument] < 10 {
		t.Fatalf("random appends ended %v; want some accepted and some refused", seen)
	}
	clear(seen)

	for range 200 {
		d := &pb.DeleteReq{}
		randomize(r, d.ProtoReflect(), 4)
		_, err := c.streams.Delete(testContext(t), d)
		allowed("delete "+d.String(), err, codes.FailedPrecondition)
		ts := &pb.TombstoneReq{}
		randomize(r, ts.ProtoReflect(), 4)
		_, err = c.streams.Tombstone(testContext(t), ts)
		allowed("tombstone "+ts.String(), err, codes.FailedPrecondition)
	}

	for i := range 50 {
		st, err := c.streams.BatchAppend(testContext(t))
		if err != nil {
			t.Fatalf("batch %d: %v", i, err)
		}
		for range r.IntN(5) {
			m := &pb.BatchAppendReq{}
			randomize(r, m.ProtoReflect(), 4)
			if err := st.Send(m); err != nil {
				break
			}
		}
		_ = st.CloseSend()
		for {
			resp, err := st.Recv()
			if err != nil {
				if !errors.Is(err, io.EOF) {
					allowed("batch append", err, codes.NotFound, codes.ResourceExhausted)
				}
				break
			}
			if resp.GetCorrelationId() == nil {
				t.Fatalf("batch response without a correlation id: %v", resp)
			}
		}
	}
}
