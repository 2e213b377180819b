// Package atompub serves EventStoreDB's AtomPub HTTP API on the node
// port: stream and $all feeds and event entries in Atom JSON and Atom XML,
// appends and deletes, stream metadata, long polling, and EventStoreDB's
// HTTP caching headers (immutable events and full pages, no-cache heads
// with ETags, DisableHttpCaching).
//
// ETags carry a token derived from the database's identity and the
// response's media type, so a validator from a wiped and recreated
// database never matches.
package atompub
