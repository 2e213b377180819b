// The client libraries under test, and where their public APIs differ.

// Both libraries ship google-protobuf code that registers its message
// classes in one process-wide namespace (globalThis.proto), and their
// serializers look classes up there at call time. Loaded into one process,
// the second library's classes replace the first's, and the first then
// fails to serialize its own requests ("message.getDeadline21100 is not a
// function"). So each test process loads exactly one library, chosen by
// CLIENT_LIB; run-tests.js runs the suite once per library.
export const known = {
  esdb: {
    name: "@eventstore/db-client@6.2.1",
    pkg: "@eventstore/db-client",
    scheme: "esdb",
    connect: (mod, cs) => mod.EventStoreDBClient.connectionString(cs),
    appendOptions: (state, extra = {}) => ({ expectedRevision: state, ...extra }),
    wrongExpected: (err) => ({ expected: err.expectedVersion, actual: err.actualVersion }),
    // 6.2.1's readAll takes no filter; only subscribeToAll does.
    readAllFilter: false,
    // UNAUTHENTICATED (a wrong password) maps to AccessDeniedError.
    unauthenticatedReadError: "AccessDeniedError",
    // An explicit read direction is sent as given.
    readDirectionFromStartEnd: false,
  },
  kurrent: {
    name: "@kurrent/kurrentdb-client@1.3.1",
    pkg: "@kurrent/kurrentdb-client",
    scheme: "kurrentdb",
    connect: (mod, cs) => mod.KurrentDBClient.connectionString(cs),
    // setStreamMetadata hands its options to appendToStream, so the
    // expected revision of a metadata write is streamState here too.
    appendOptions: (state, extra = {}) => ({ streamState: state, ...extra }),
    wrongExpected: (err) => ({ expected: err.expectedState, actual: err.actualState }),
    // readStream and readAll go through the Rust bridge, which filters.
    readAllFilter: true,
    // Appends map UNAUTHENTICATED to AccessDeniedError, but reads go
    // through the Rust bridge, which has no error for UNAUTHENTICATED and
    // reports it as UnavailableError.
    unauthenticatedReadError: "UnavailableError",
    // The Rust bridge derives the direction from START and END: it sends
    // "forwards from END" as backwards from the end, and "backwards from
    // START" as forwards from the start.
    readDirectionFromStartEnd: true,
  },
};

export const libraryKeys = Object.keys(known);
