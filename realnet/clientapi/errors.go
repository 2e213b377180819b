package clientapi

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/annal-db/annal/core/env"
	"github.com/annal-db/annal/core/node"
	"github.com/annal-db/annal/core/streams"
)

// Trailer keys and "exception" values the official clients read. The Go
// clients read trailers only, so everything goes into trailers.
const (
	keyException          = "exception"
	keyStreamName         = "stream-name"
	keyLeaderHost         = "leader-endpoint-host"
	keyLeaderPort         = "leader-endpoint-port"
	keyExpectedVersion    = "expected-version"
	keyActualVersion      = "actual-version"
	keyMaxAppendSize      = "maximum-append-size"
	keyRequiredProperties = "required-metadata-properties"

	exNotLeader            = "not-leader"
	exStreamDeleted        = "stream-deleted"
	exWrongExpectedVersion = "wrong-expected-version"
	exStreamNotFound       = "stream-not-found"
	exMaxAppendSize        = "maximum-append-size-exceeded"
	exMissingMetadata      = "missing-required-metadata-property"
	exAccessDenied         = "access-denied"
)

// Refusals of Options.Authorize: wrap one of these.
var (
	// ErrAccessDenied: the caller may not do this.
	ErrAccessDenied = errors.New("access denied")
	// ErrUnauthenticated: the caller's credentials are not valid.
	ErrUnauthenticated = errors.New("not authenticated")
)

// Required event metadata keys of an append.
const (
	metaType        = "type"
	metaContentType = "content-type"
	metaCreated     = "created"

	contentTypeJSON   = "application/json"
	contentTypeBinary = "application/octet-stream"
)

// rpcError is an answer to the client: a status, and the trailers that
// carry EventStoreDB's exception and its details.
type rpcError struct {
	st      *status.Status
	trailer metadata.MD
}

func (e *rpcError) Error() string              { return e.st.Message() }
func (e *rpcError) GRPCStatus() *status.Status { return e.st }

// newRPCError builds an answer; kv are trailer key/value pairs.
func newRPCError(code codes.Code, msg string, kv ...string) *rpcError {
	e := &rpcError{st: status.New(code, msg)}
	if len(kv) > 0 {
		e.trailer = metadata.Pairs(kv...)
	}
	return e
}

func invalidArgument(format string, args ...any) *rpcError {
	return newRPCError(codes.InvalidArgument, fmt.Sprintf(format, args...))
}

func missingMetadata(event int, key string) *rpcError {
	return newRPCError(codes.InvalidArgument,
		fmt.Sprintf("Required Metadata Property '%s' is missing from event %d; every proposed event needs %q and %q", key, event, metaType, metaContentType),
		keyException, exMissingMetadata,
		keyRequiredProperties, metaType+","+metaContentType)
}

func maxAppendSizeExceeded(stream string, size, limit int) *rpcError {
	return newRPCError(codes.InvalidArgument,
		fmt.Sprintf("Maximum Append Size of %d Exceeded: the append to %q has %d bytes or more; split it into smaller appends", limit, stream, size),
		keyException, exMaxAppendSize,
		keyMaxAppendSize, strconv.Itoa(limit))
}

func notLeader(leader env.Endpoint) *rpcError {
	return newRPCError(codes.NotFound, "Leader info available",
		keyException, exNotLeader,
		keyLeaderHost, leader.Host,
		keyLeaderPort, strconv.Itoa(int(leader.Port)))
}

func streamDeleted(stream string) *rpcError {
	return newRPCError(codes.FailedPrecondition, fmt.Sprintf("Event stream '%s' is deleted.", stream),
		keyException, exStreamDeleted,
		keyStreamName, stream)
}

// wrongExpectedVersion is a delete's or tombstone's refusal. A stream
// with no events has an empty actual-version, which the clients read as
// no stream (a number there would be taken for a revision).
func wrongExpectedVersion(stream string, expected streams.ExpectedRevision, actual int64) *rpcError {
	actualText := ""
	if actual >= 0 {
		actualText = strconv.FormatInt(actual, 10)
	}
	return newRPCError(codes.FailedPrecondition,
		fmt.Sprintf("WrongExpectedVersion on stream %q: expected version %d, actual version %d", stream, int64(expected), actual),
		keyException, exWrongExpectedVersion,
		keyStreamName, stream,
		keyExpectedVersion, strconv.FormatInt(int64(expected), 10),
		keyActualVersion, actualText)
}

// accessDeniedMessage is EventStoreDB's "Access Denied", and the reason
// Options.Authorize gave after ErrAccessDenied's own text.
func accessDeniedMessage(err error) string {
	return "Access Denied" + strings.TrimPrefix(err.Error(), ErrAccessDenied.Error())
}

// toRPCError maps an error of the node, or of the call itself, to what
// the client is told. It is the one place that knows the table; unknown
// errors become UNKNOWN with their text (known reports whether the error
// was one the table lists).
func toRPCError(err error) (e *rpcError, known bool) {
	var (
		rpc     *rpcError
		grpcErr interface{ GRPCStatus() *status.Status }
	)
	switch {
	case errors.As(err, &rpc):
		return rpc, true
	case errors.Is(err, ErrAccessDenied):
		return newRPCError(codes.PermissionDenied, accessDeniedMessage(err), keyException, exAccessDenied), true
	case errors.Is(err, ErrUnauthenticated):
		return newRPCError(codes.Unauthenticated, err.Error()), true
	case errors.As(err, &grpcErr):
		// Already a status: a failed Recv or Send of the call.
		return &rpcError{st: grpcErr.GRPCStatus()}, true
	case errors.Is(err, ErrNodeStopped):
		return newRPCError(codes.Unavailable, "Server Is Not Ready: "+err.Error()), true
	}
	switch node.Classify(err) {
	case node.ClassNotLeader:
		var nl *node.NotLeaderError
		errors.As(err, &nl)
		if nl.Leader.IsZero() {
			return newRPCError(codes.Unavailable, "no leader yet: the cluster is electing one; retry shortly"), true
		}
		return notLeader(nl.Leader), true
	case node.ClassNotReady:
		return newRPCError(codes.Unavailable, "Server Is Not Ready: "+err.Error()), true
	case node.ClassStreamDeleted:
		var del *streams.StreamDeletedError
		errors.As(err, &del)
		return streamDeleted(del.Stream), true
	case node.ClassWrongExpectedVersion:
		stream, expected, actual := wrongExpectedOf(err)
		return wrongExpectedVersion(stream, expected, actual), true
	case node.ClassStreamNotFound:
		var nf *streams.StreamNotFoundError
		errors.As(err, &nf)
		return newRPCError(codes.NotFound, fmt.Sprintf("Event stream '%s' is not found.", nf.Stream),
			keyException, exStreamNotFound, keyStreamName, nf.Stream), true
	case node.ClassTooLarge:
		var size *streams.MaxAppendSizeExceededError
		errors.As(err, &size)
		return maxAppendSizeExceeded(size.Stream, size.Size, size.Max), true
	case node.ClassDiskFull:
		// EventStoreDB has no exception for this. UNAVAILABLE sends the
		// official clients to rediscover the cluster: the full node gave
		// up leadership, and another one takes the write.
		return newRPCError(codes.Unavailable, err.Error()), true
	case node.ClassTimeout:
		return newRPCError(codes.Aborted, "Operation timed out: "+err.Error()), true
	case node.ClassTooBusy:
		return newRPCError(codes.Unavailable, "Server Is Too Busy: "+err.Error()), true
	case node.ClassInvalidArgument:
		var inv *streams.InvalidArgumentError
		errors.As(err, &inv)
		return newRPCError(codes.InvalidArgument, inv.What), true
	case node.ClassRemote:
		return newRPCError(codes.Unknown, err.Error()), true
	}
	switch {
	case errors.Is(err, context.Canceled):
		return newRPCError(codes.Canceled, "the call was cancelled"), true
	case errors.Is(err, context.DeadlineExceeded):
		return newRPCError(codes.DeadlineExceeded, "the call's deadline passed"), true
	}
	return newRPCError(codes.Unknown, err.Error()), false
}

// wrongExpectedOf reads a wrong-expected-version answer's details: from a
// *streams.WrongExpectedVersionError, or a *streams.CorruptedIdempotencyError
// answered alike.
func wrongExpectedOf(err error) (stream string, expected streams.ExpectedRevision, actual int64) {
	var (
		wev *streams.WrongExpectedVersionError
		ci  *streams.CorruptedIdempotencyError
	)
	if errors.As(err, &wev) {
		return wev.Stream, wev.Expected, wev.Actual
	}
	errors.As(err, &ci)
	return ci.Stream, ci.Expected, ci.Actual
}

// fail ends a call with err: it sets the trailers, logs errors the table
// does not know (they are bugs or unforeseen failures), and returns the
// status to return from the handler.
func (s *server) fail(setTrailer func(metadata.MD), method string, err error) error {
	e, known := toRPCError(err)
	if !known {
		s.logf("%s: unexpected error answered as UNKNOWN: %v", method, err)
	}
	if len(e.trailer) > 0 {
		setTrailer(e.trailer)
	}
	return e.st.Err()
}

// requiresLeader reads the requires-leader header a client sends when the
// call must be served by the leader.
func requiresLeader(ctx context.Context) bool {
	md, _ := metadata.FromIncomingContext(ctx)
	for _, v := range md.Get("requires-leader") {
		if strings.EqualFold(strings.TrimSpace(v), "true") {
			return true
		}
	}
	return false
}
