// Package eventlog is a node's durable, append-only event log: EventStoreDB's
// transaction file. Records (events, epochs) are appended at the log's end,
// acknowledged only once durable, and read by position, forward or backward.
// Replicas write the leader's records at the leader's positions (AppendRaw)
// and cut back a suffix their new leader does not have (Truncate).
//
// # Positions
//
// A position is a global byte offset: segment number × segment size +
// offset in the segment's data area, as EventStoreDB's log positions are.
// An event's $all position is (commit, prepare) = (its position, its
// position). The durable end W is the position after the last durable
// record; reads never go past it and the next append goes there.
//
// # Files
//
// Everything lives in one directory (Config.Dir, "log"):
//
//	log/segment-000000  segment 0: positions [0, S)
//	log/segment-000001  segment 1: positions [S, 2S)
//	log/writer.chk      W, the durable end (a core/checkpoint file)
//
// S is the segment size (256 MiB by default; it cannot change once a log
// exists). A segment file is a 512-byte header followed by S bytes of data,
// preallocated when the segment is created.
//
// # Segment header
//
// One sector, so that a crash never tears it. Little endian:
//
//	offset size  field
//	0      4     magic "ANSG"
//	4      2     format version (FormatVersion; at this offset in every version)
//	6      2     header size (512)
//	8      8     segment number
//	16     8     segment size S (data bytes)
//	24     484   zero (reserved)
//	508    4     CRC-32C (Castagnoli) of bytes 0-507
//
// A segment written by another format version is refused with a
// *FormatVersionError before anything else in it is trusted.
//
// # Records
//
// A record is framed so that it can be found from either end:
//
//	offset  size  field
//	0       4     length L of the whole record, little endian
//	4       1     kind: 1 event, 2 epoch, 3 padding
//	5       L-13  body
//	L-8     4     CRC-32C of the record's position (8 bytes, little endian)
//	              followed by bytes 0 to L-9 (for padding, bytes 0-4 only)
//	L-4     4     length L again
//
// The checksum covers the record's own position, so a record is valid only
// where it was written: a misplaced or stale copy never verifies. Bodies use
// core/wire encodings:
//
//	event:   stream (String), number (Varint), event id (16 bytes),
//	         event type (String), flags (Uint8: 1 JSON, 2 tombstone),
//	         created (Varint, .NET ticks), data (Bytes), metadata (Bytes)
//	epoch:   number (Varint32), epoch id (16 bytes), previous epoch
//	         position (Varint, -1 for none), leader instance id (16 bytes),
//	         created (Varint, .NET ticks); its position is its record's
//	padding: filler, never read
//
// A record is at most MaxRecordSize (16 MiB) framed, and never straddles two
// segments. Every segment is tiled exactly by records: a record is placed
// only if it fills the rest of its segment or leaves room for padding (at
// least MinRecordSize bytes); otherwise the rest of the segment becomes one
// padding record and the record starts the next segment. So the last record
// of a full segment always ends at the segment's end, which is what lets a
// backward read cross segments.
//
// # Writing and durability
//
// An append is placed at the in-memory end and written into its segment
// (creating, preallocating and writing the header of new segments). A group
// commit then syncs every segment it wrote, syncs the directory if it created
// segments, and only then writes and syncs writer.chk with the new end; the
// appends it carried are acknowledged, in position order, after that.
// Appends that arrive meanwhile share the next group commit. A failed write
// or sync leaves the files' state unknown: the log refuses every later write
// (ErrFailed). A full disk fails the appends in flight and leaves the log as
// it was at W.
//
// # Recovery
//
// Open reads W from writer.chk (a directory holding segments but no
// writer.chk is refused, not taken as empty), checks the header of every segment holding
// positions below W, deletes the segments starting at or past W (they hold
// nothing durable: at most half-created files or records never made
// durable), and re-reads and verifies every record of the last segment up to
// W, in reads of at most env.MaxRead bytes. Bytes past W, torn, zeroed or
// even intact, are never part of the log: reads stop at W and new appends
// overwrite them. A record below W that fails its checks is corruption of
// synced data: Open reports it as a *CorruptError with the damaged range
// (and still returns the log, for reads elsewhere) and never cuts it off.
//
// # Truncation
//
// Truncate writes the new, lower end to writer.chk durably first, then
// deletes the segments past it and syncs the directory, so a crash between
// the two leaves a log that Open completes. TruncateDamaged cuts back to the
// start of a range reported corrupt, without re-reading the record there: a
// replica drops a damaged copy and fetches the range again from its leader.
package eventlog
