// Appends with every kind of expected revision, and the wrong-expected-version
// errors each kind can give, on a single node.

import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { startSingleNode, scenario } from "../lib/harness.js";
import { libraries, makeEvents, readStream, uniqueName, expectError } from "../lib/clients.js";

for (const lib of libraries) {
  describe(`append (${lib.name})`, () => {
    let group;
    let client;
    const { ANY, NO_STREAM, STREAM_EXISTS } = lib.mod;

    before(async () => {
      group = await startSingleNode();
      client = lib.connect(group.connectionString(lib.scheme));
    });
    after(async () => {
      await client?.dispose();
      await group?.close();
    });

    it("expected revision any appends to a new and to an existing stream", async (t) =>
      scenario(t, group, async () => {
        const stream = uniqueName("append-any");
        const first = await client.appendToStream(stream, makeEvents(lib, 2), lib.appendOptions(ANY));
        assert.equal(first.success, true);
        assert.equal(first.nextExpectedRevision, 1n, "two events into a new stream end at revision 1");
        assert.ok(first.position, "append result carries the $all position");
        const second = await client.appendToStream(stream, makeEvents(lib, 1, "TestEvent", 2), lib.appendOptions(ANY));
        assert.equal(second.nextExpectedRevision, 2n);
        assert.ok(second.position.commit > first.position.commit, `positions grow: ${first.position.commit} then ${second.position.commit}`);
        const events = await readStream(client, stream);
        assert.deepEqual(events.map((e) => e.revision), [0n, 1n, 2n]);
        assert.deepEqual(events.map((e) => e.data.index), [0, 1, 2]);
      }));

    it("expected revision no_stream creates a stream and refuses an existing one", async (t) =>
      scenario(t, group, async () => {
        const stream = uniqueName("append-nostream");
        const res = await client.appendToStream(stream, makeEvents(lib, 1), lib.appendOptions(NO_STREAM));
        assert.equal(res.nextExpectedRevision, 0n);
        const err = await expectError(lib, "WrongExpectedVersionError",
          () => client.appendToStream(stream, makeEvents(lib, 1), lib.appendOptions(NO_STREAM)),
          "append with no_stream to an existing stream");
        assert.equal(err.streamName, stream);
        const v = lib.wrongExpected(err);
        assert.equal(v.expected, NO_STREAM, "error reports the expectation sent (no_stream)");
        assert.equal(v.actual, 0n, "error reports the stream's current revision");
      }));

    it("an exact expected revision appends when it matches and is refused when it does not", async (t) =>
      scenario(t, group, async () => {
        const stream = uniqueName("append-exact");
        await client.appendToStream(stream, makeEvents(lib, 3), lib.appendOptions(NO_STREAM));
        const ok = await client.appendToStream(stream, makeEvents(lib, 1, "TestEvent", 3), lib.appendOptions(2n));
        assert.equal(ok.nextExpectedRevision, 3n);
        const err = await expectError(lib, "WrongExpectedVersionError",
          () => client.appendToStream(stream, makeEvents(lib, 1), lib.appendOptions(1n)),
          "append expecting revision 1 to a stream at revision 3");
        const v = lib.wrongExpected(err);
        assert.equal(v.expected, 1n);
        assert.equal(v.actual, 3n);
        const tooFar = await expectError(lib, "WrongExpectedVersionError",
          () => client.appendToStream(stream, makeEvents(lib, 1), lib.appendOptions(10n)),
          "append expecting revision 10 to a stream at revision 3");
        assert.equal(lib.wrongExpected(tooFar).actual, 3n);
        const missing = await expectError(lib, "WrongExpectedVersionError",
          () => client.appendToStream(uniqueName("append-exact-missing"), makeEvents(lib, 1), lib.appendOptions(0n)),
          "append expecting revision 0 to a stream that does not exist");
        assert.equal(lib.wrongExpected(missing).actual, NO_STREAM);
        const events = await readStream(client, stream);
        assert.equal(events.length, 4, "refused appends wrote nothing");
      }));

    it("expected revision stream_exists needs the stream to exist", async (t) =>
      scenario(t, group, async () => {
        const stream = uniqueName("append-exists");
        const err = await expectError(lib, "WrongExpectedVersionError",
          () => client.appendToStream(stream, makeEvents(lib, 1), lib.appendOptions(STREAM_EXISTS)),
          "append with stream_exists to a missing stream");
        const v = lib.wrongExpected(err);
        assert.equal(v.expected, STREAM_EXISTS);
        assert.equal(v.actual, NO_STREAM);
        await client.appendToStream(stream, makeEvents(lib, 1), lib.appendOptions(NO_STREAM));
        const ok = await client.appendToStream(stream, makeEvents(lib, 2), lib.appendOptions(STREAM_EXISTS));
        assert.equal(ok.nextExpectedRevision, 2n);
      }));

    it("an append of the same event ids with the same expectation is idempotent", async (t) =>
      scenario(t, group, async () => {
        const stream = uniqueName("append-idem");
        const events = makeEvents(lib, 2);
        const a = await client.appendToStream(stream, events, lib.appendOptions(NO_STREAM));
        const b = await client.appendToStream(stream, events, lib.appendOptions(NO_STREAM));
        assert.equal(b.nextExpectedRevision, a.nextExpectedRevision);
        const read = await readStream(client, stream);
        assert.equal(read.length, 2, `a retried append must not duplicate events; read ${read.length}`);
        assert.deepEqual(read.map((e) => e.id), events.map((e) => e.id));
      }));

    it("an append larger than the maximum append size fails with MaxAppendSizeExceededError", async (t) =>
      scenario(t, group, async () => {
        const stream = uniqueName("append-big");
        const big = lib.mod.binaryEvent({ type: "Big", data: Buffer.alloc(1100 * 1024) });
        const err = await expectError(lib, "MaxAppendSizeExceededError",
          () => client.appendToStream(stream, big, lib.appendOptions(ANY)), "append of a 1.1 MiB event");
        assert.equal(err.maxAppendSize, 1048576, "the error carries the node's MaxAppendSize (default 1 MiB)");
        const ok = await client.appendToStream(stream, makeEvents(lib, 1), lib.appendOptions(NO_STREAM));
        assert.equal(ok.nextExpectedRevision, 0n, "the refused append wrote nothing");
      }));
  });
}
