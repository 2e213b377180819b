// Soft delete and tombstone, and the errors each leaves behind for reads
// and appends.

import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { startSingleNode, scenario } from "../lib/harness.js";
import { libraries, makeEvents, readStream, uniqueName, expectError } from "../lib/clients.js";

for (const lib of libraries) {
  describe(`delete and tombstone (${lib.name})`, () => {
    let group;
    let client;
    const { ANY, NO_STREAM, FORWARDS, BACKWARDS } = lib.mod;

    before(async () => {
      group = await startSingleNode();
      client = lib.connect(group.connectionString(lib.scheme));
    });
    after(async () => {
      await client?.dispose();
      await group?.close();
    });

    it("a deleted stream reads as not found", async (t) =>
      scenario(t, group, async () => {
        const stream = uniqueName("del");
        await client.appendToStream(stream, makeEvents(lib, 3), lib.appendOptions(NO_STREAM));
        const res = await client.deleteStream(stream, { expectedRevision: 2n });
        assert.ok(res.position === undefined || res.position.commit >= 0n, "delete result");
        for (const direction of [FORWARDS, BACKWARDS]) {
          const err = await expectError(lib, "StreamNotFoundError", () => readStream(client, stream, { direction }),
            `readStream ${String(direction)} after deleteStream`);
          assert.equal(err.streamName, stream);
        }
      }));

    it("a deleted stream can be written again and continues its revisions", async (t) =>
      scenario(t, group, async () => {
        const stream = uniqueName("del-again");
        await client.appendToStream(stream, makeEvents(lib, 2), lib.appendOptions(NO_STREAM));
        await client.deleteStream(stream, { expectedRevision: ANY });
        const again = makeEvents(lib, 1);
        const res = await client.appendToStream(stream, again, lib.appendOptions(ANY));
        assert.equal(res.nextExpectedRevision, 2n, "revisions continue after a soft delete");
        const read = await readStream(client, stream);
        assert.deepEqual(read.map((e) => e.id), again.map((e) => e.id), "only the event written after the delete is visible");
        assert.deepEqual(read.map((e) => e.revision), [2n]);
      }));

    it("deleting with a wrong expected revision fails with WrongExpectedVersionError", async (t) =>
      scenario(t, group, async () => {
        const stream = uniqueName("del-wev");
        await client.appendToStream(stream, makeEvents(lib, 3), lib.appendOptions(NO_STREAM));
        const err = await expectError(lib, "WrongExpectedVersionError",
          () => client.deleteStream(stream, { expectedRevision: 0n }), "deleteStream expecting revision 0 of a stream at 2");
        assert.equal(err.streamName, stream);
        const v = lib.wrongExpected(err);
        assert.equal(v.expected, 0n);
        assert.equal(v.actual, 2n);
        // (deleteStream cannot send stream_exists in either library.)
        const noStream = await expectError(lib, "WrongExpectedVersionError",
          () => client.deleteStream(stream, { expectedRevision: NO_STREAM }), "deleteStream expecting no stream of an existing one");
        // A delete's refusal travels in trailers, where no_stream is -1; the
        // libraries parse it as a number.
        assert.equal(lib.wrongExpected(noStream).expected, -1n);
        assert.equal(lib.wrongExpected(noStream).actual, 2n);
        // A stream with no events has no actual revision: the libraries
        // report "no_stream".
        const missing = await expectError(lib, "WrongExpectedVersionError",
          () => client.deleteStream(uniqueName("del-missing"), { expectedRevision: 0n }), "deleteStream expecting revision 0 of no stream");
        assert.equal(lib.wrongExpected(missing).actual, "no_stream");
        const read = await readStream(client, stream);
        assert.equal(read.length, 3, "the refused delete left the stream alone");
      }));

    it("a tombstoned stream fails reads and appends with StreamDeletedError", async (t) =>
      scenario(t, group, async () => {
        const stream = uniqueName("tomb");
        await client.appendToStream(stream, makeEvents(lib, 2), lib.appendOptions(NO_STREAM));
        await client.tombstoneStream(stream, { expectedRevision: 1n });
        for (const direction of [FORWARDS, BACKWARDS]) {
          const err = await expectError(lib, "StreamDeletedError", () => readStream(client, stream, { direction }),
            `readStream ${String(direction)} of a tombstoned stream`);
          assert.equal(err.streamName, stream);
        }
        for (const state of [ANY, NO_STREAM, 1n]) {
          const err = await expectError(lib, "StreamDeletedError",
            () => client.appendToStream(stream, makeEvents(lib, 1), lib.appendOptions(state)),
            `appendToStream (expected ${String(state)}) to a tombstoned stream`);
          assert.equal(err.streamName, stream);
        }
        await expectError(lib, "StreamDeletedError", () => client.tombstoneStream(stream, { expectedRevision: ANY }),
          "tombstoning a tombstoned stream");
        await expectError(lib, "StreamDeletedError", () => client.deleteStream(stream, { expectedRevision: ANY }),
          "deleting a tombstoned stream");
      }));

    it("a stream that was never written can be tombstoned and is then deleted", async (t) =>
      scenario(t, group, async () => {
        const stream = uniqueName("tomb-new");
        await client.tombstoneStream(stream, { expectedRevision: NO_STREAM });
        await expectError(lib, "StreamDeletedError", () => readStream(client, stream), "readStream of a stream tombstoned before any write");
      }));
  });
}
