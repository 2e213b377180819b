// Stream metadata: set and get, and maxCount honoured by reads.

import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { startSingleNode, scenario } from "../lib/harness.js";
import { libraries, makeEvents, readStream, uniqueName } from "../lib/clients.js";

for (const lib of libraries) {
  describe(`stream metadata (${lib.name})`, () => {
    let group;
    let client;
    const { NO_STREAM, BACKWARDS, END } = lib.mod;

    before(async () => {
      group = await startSingleNode();
      client = lib.connect(group.connectionString(lib.scheme));
    });
    after(async () => {
      await client?.dispose();
      await group?.close();
    });

    it("metadata round-trips, custom properties included", async (t) =>
      scenario(t, group, async () => {
        const stream = uniqueName("meta");
        const none = await client.getStreamMetadata(stream);
        assert.equal(none.streamName, stream);
        assert.ok(none.metadata === undefined || Object.keys(none.metadata).length === 0,
          `a stream without metadata has none; got ${JSON.stringify(none.metadata)}`);
        const set = await client.setStreamMetadata(stream, { maxCount: 7, maxAge: 3600, owner: "tests" });
        assert.equal(set.success, true);
        const got = await client.getStreamMetadata(stream);
        assert.equal(got.metadata.maxCount, 7);
        assert.equal(got.metadata.maxAge, 3600);
        assert.equal(got.metadata.owner, "tests", "custom property survives");
        // Both libraries fill metastreamRevision with the metadata event's
        // commit position, not its revision.
        assert.equal(typeof got.metastreamRevision, "bigint");
        await client.setStreamMetadata(stream, { maxCount: 9 });
        const again = await client.getStreamMetadata(stream);
        assert.equal(again.metadata.maxCount, 9);
        assert.ok(again.metastreamRevision > got.metastreamRevision, "the newer metadata event is further on in $all");
      }));

    it("maxCount limits what reads return", async (t) =>
      scenario(t, group, async () => {
        const stream = uniqueName("meta-maxcount");
        const events = makeEvents(lib, 5);
        await client.appendToStream(stream, events, lib.appendOptions(NO_STREAM));
        await client.setStreamMetadata(stream, { maxCount: 2 });
        const forwards = await readStream(client, stream);
        assert.deepEqual(forwards.map((e) => e.revision), [3n, 4n], "only the newest 2 events are readable forwards");
        const backwards = await readStream(client, stream, { direction: BACKWARDS, fromRevision: END });
        assert.deepEqual(backwards.map((e) => e.revision), [4n, 3n], "only the newest 2 events are readable backwards");
        await client.appendToStream(stream, makeEvents(lib, 1, "TestEvent", 5), lib.appendOptions(4n));
        const after = await readStream(client, stream);
        assert.deepEqual(after.map((e) => e.revision), [4n, 5n], "the window moves with new events");
      }));

    it("setting metadata with a wrong expected revision fails with WrongExpectedVersionError", async (t) =>
      scenario(t, group, async () => {
        const stream = uniqueName("meta-wev");
        await client.setStreamMetadata(stream, { maxCount: 3 });
        let err;
        try {
          await client.setStreamMetadata(stream, { maxCount: 4 }, lib.appendOptions(NO_STREAM));
        } catch (e) {
          err = e;
        }
        assert.ok(err instanceof lib.mod.WrongExpectedVersionError,
          `expected WrongExpectedVersionError for a metadata write expecting no metastream; got ${err?.constructor?.name}: ${err?.message}`);
      }));
  });
}
