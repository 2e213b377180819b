// Stream reads forwards and backwards from start, end and a revision with
// maxCount; $all reads both ways (and filtered, where the client can); the
// stream-not-found error.

import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { startSingleNode, scenario } from "../lib/harness.js";
import { libraries, makeEvents, readStream, readAll, uniqueName, expectError, collect } from "../lib/clients.js";

for (const lib of libraries) {
  describe(`read (${lib.name})`, () => {
    let group;
    let client;
    const { START, END, FORWARDS, BACKWARDS, NO_STREAM } = lib.mod;

    before(async () => {
      group = await startSingleNode();
      client = lib.connect(group.connectionString(lib.scheme));
    });
    after(async () => {
      await client?.dispose();
      await group?.close();
    });

    async function streamOf(n, prefix = "read") {
      const stream = uniqueName(prefix);
      const events = makeEvents(lib, n);
      await client.appendToStream(stream, events, lib.appendOptions(NO_STREAM));
      return { stream, ids: events.map((e) => e.id) };
    }

    it("reads a stream forwards from the start, from a revision, with maxCount", async (t) =>
      scenario(t, group, async () => {
        const { stream, ids } = await streamOf(5);
        const all = await readStream(client, stream, { direction: FORWARDS, fromRevision: START });
        assert.deepEqual(all.map((e) => e.revision), [0n, 1n, 2n, 3n, 4n]);
        assert.deepEqual(all.map((e) => e.id), ids, "event ids come back as appended");
        assert.ok(all.every((e) => e.streamId === stream && e.type === "TestEvent"), "stream name and event type on every event");
        assert.deepEqual(all.map((e) => e.data.index), [0, 1, 2, 3, 4], "JSON data round-trips");
        const from2 = await readStream(client, stream, { direction: FORWARDS, fromRevision: 2n });
        assert.deepEqual(from2.map((e) => e.revision), [2n, 3n, 4n]);
        const two = await readStream(client, stream, { direction: FORWARDS, fromRevision: START, maxCount: 2 });
        assert.deepEqual(two.map((e) => e.revision), [0n, 1n]);
        const mid = await readStream(client, stream, { direction: FORWARDS, fromRevision: 1n, maxCount: 3 });
        assert.deepEqual(mid.map((e) => e.revision), [1n, 2n, 3n]);
        const past = await readStream(client, stream, { direction: FORWARDS, fromRevision: 9n });
        assert.deepEqual(past, [], "reading past the end gives nothing");
        if (!lib.readDirectionFromStartEnd) {
          const fromEnd = await readStream(client, stream, { direction: FORWARDS, fromRevision: END });
          assert.deepEqual(fromEnd, [], "forwards from the end gives nothing");
        }
      }));

    it("reads a stream backwards from the end, from a revision, with maxCount", async (t) =>
      scenario(t, group, async () => {
        const { stream, ids } = await streamOf(5);
        const all = await readStream(client, stream, { direction: BACKWARDS, fromRevision: END });
        assert.deepEqual(all.map((e) => e.revision), [4n, 3n, 2n, 1n, 0n]);
        assert.deepEqual(all.map((e) => e.id), [...ids].reverse());
        const last2 = await readStream(client, stream, { direction: BACKWARDS, fromRevision: END, maxCount: 2 });
        assert.deepEqual(last2.map((e) => e.revision), [4n, 3n]);
        const from2 = await readStream(client, stream, { direction: BACKWARDS, fromRevision: 2n });
        assert.deepEqual(from2.map((e) => e.revision), [2n, 1n, 0n]);
        const from3 = await readStream(client, stream, { direction: BACKWARDS, fromRevision: 3n, maxCount: 2 });
        assert.deepEqual(from3.map((e) => e.revision), [3n, 2n]);
        if (!lib.readDirectionFromStartEnd) {
          const fromStart = await readStream(client, stream, { direction: BACKWARDS, fromRevision: START });
          assert.deepEqual(fromStart.map((e) => e.revision), [0n], "backwards from the start gives the first event");
        }
      }));

    it("reads longer than one server page come back whole and in order", async (t) =>
      scenario(t, group, async () => {
        const stream = uniqueName("read-long");
        const n = 1100;
        for (let i = 0; i < n; i += 100) {
          await client.appendToStream(stream, makeEvents(lib, 100, "TestEvent", i), lib.appendOptions(i === 0 ? NO_STREAM : BigInt(i - 1)));
        }
        const all = await readStream(client, stream);
        assert.equal(all.length, n);
        assert.ok(all.every((e, i) => e.revision === BigInt(i) && e.data.index === i), "forwards: revisions 0..1099 in order");
        const mid = await readStream(client, stream, { fromRevision: 500n, maxCount: 600 });
        assert.deepEqual([mid.length, mid[0].revision, mid[599].revision], [600, 500n, 1099n], "forwards from 500, 600 events");
        const back = await readStream(client, stream, { direction: BACKWARDS, fromRevision: END, maxCount: 1024 });
        assert.equal(back.length, 1024);
        assert.ok(back.every((e, i) => e.revision === BigInt(n - 1 - i)), "backwards: revisions 1099 down to 76");
        const inAll = (await readAll(client, { fromPosition: START })).filter((e) => e.streamId === stream);
        assert.equal(inAll.length, n, "$all holds every event of the long stream");
      }));

    it("reading a stream that does not exist fails with StreamNotFoundError", async (t) =>
      scenario(t, group, async () => {
        const stream = uniqueName("read-missing");
        for (const direction of [FORWARDS, BACKWARDS]) {
          const err = await expectError(lib, "StreamNotFoundError",
            () => readStream(client, stream, { direction }),
            `readStream ${String(direction)} of a missing stream`);
          assert.equal(err.streamName, stream);
        }
      }));

    it("reads $all forwards and backwards, in commit order, with maxCount", async (t) =>
      scenario(t, group, async () => {
        const a = await streamOf(3, "readall-a");
        const b = await streamOf(2, "readall-b");
        const ours = new Set([a.stream, b.stream]);
        const expected = [...a.ids, ...b.ids];

        const forwards = (await readAll(client, { direction: FORWARDS, fromPosition: START })).filter((e) => ours.has(e.streamId));
        assert.deepEqual(forwards.map((e) => e.id), expected, "$all forwards holds our events in append order");
        for (let i = 1; i < forwards.length; i++) {
          assert.ok(forwards[i].position.commit > forwards[i - 1].position.commit, "commit positions grow forwards");
        }

        const backwards = (await readAll(client, { direction: BACKWARDS, fromPosition: END })).filter((e) => ours.has(e.streamId));
        assert.deepEqual(backwards.map((e) => e.id), [...expected].reverse(), "$all backwards is the reverse");

        const last3 = await readAll(client, { direction: BACKWARDS, fromPosition: END, maxCount: 3 });
        assert.equal(last3.length, 3, "maxCount 3 backwards gives 3 events");
        assert.deepEqual(last3.map((e) => e.id), [...expected].reverse().slice(0, 3), "the newest 3 events are ours, newest first");

        const firstOfA = forwards[0].position;
        const fromPos = await readAll(client, { direction: FORWARDS, fromPosition: firstOfA, maxCount: 2 });
        assert.deepEqual(fromPos.map((e) => e.id), expected.slice(0, 2), "forwards from an event's position starts with that event");

        const fromLast = forwards[forwards.length - 1].position;
        const before = await readAll(client, { direction: BACKWARDS, fromPosition: fromLast });
        assert.ok(before.every((e) => e.position.commit <= fromLast.commit), "backwards from a position gives nothing after it");
        const ourBefore = before.filter((e) => ours.has(e.streamId)).map((e) => e.id);
        assert.deepEqual(ourBefore, [...expected].reverse().slice(ourBefore.length === 5 ? 0 : 1),
          "backwards from a position gives the earlier events newest first");
      }));

    it("reads $all with a stream-name prefix filter and an event-type filter", { skip: lib.readAllFilter ? false : `${lib.name} readAll takes no filter` }, async (t) =>
      scenario(t, group, async () => {
        const prefix = uniqueName("rfilter");
        const typeTag = uniqueName("Type");
        await client.appendToStream(`${prefix}-one`, makeEvents(lib, 2, `${typeTag}-A`), lib.appendOptions(NO_STREAM));
        await client.appendToStream(uniqueName("rfilter-other"), makeEvents(lib, 2, `${typeTag}-A`), lib.appendOptions(NO_STREAM));
        await client.appendToStream(`${prefix}-two`, makeEvents(lib, 1, `${typeTag}-B`), lib.appendOptions(NO_STREAM));

        const byStream = await readAll(client, { fromPosition: START, filter: lib.mod.streamNameFilter({ prefixes: [prefix] }) });
        assert.deepEqual(byStream.map((e) => e.streamId), [`${prefix}-one`, `${prefix}-one`, `${prefix}-two`],
          "a stream-name prefix filter keeps only those streams");

        const byType = await readAll(client, { fromPosition: START, filter: lib.mod.eventTypeFilter({ prefixes: [`${typeTag}-A`] }) });
        assert.equal(byType.length, 4, `an event-type prefix filter keeps the 4 ${typeTag}-A events; got ${byType.map((e) => e.type).join(",")}`);
        assert.ok(byType.every((e) => e.type === `${typeTag}-A`));

        const byRegex = await readAll(client, { direction: BACKWARDS, fromPosition: END, filter: lib.mod.eventTypeFilter({ regex: `^${typeTag}-B$` }) });
        assert.deepEqual(byRegex.map((e) => e.streamId), [`${prefix}-two`], "an event-type regex filter backwards");
      }));

    it("resolves link events when asked, and leaves a link whose target is gone alone", async (t) =>
      scenario(t, group, async () => {
        const { stream: target, ids } = await streamOf(3, "link-target");
        const links = uniqueName("links");
        const link = (rev) => lib.mod.binaryEvent({ type: "$>", data: Buffer.from(`${rev}@${target}`) });
        await client.appendToStream(links, [link(2), link(0), link(9)], lib.appendOptions(NO_STREAM));

        const resolved = await collect(client.readStream(links, { direction: FORWARDS, fromRevision: START, resolveLinkTos: true }), "resolving read");
        assert.equal(resolved.length, 3);
        assert.deepEqual(resolved.slice(0, 2).map((r) => [r.event?.streamId, r.event?.id]), [[target, ids[2]], [target, ids[0]]],
          "each link's target comes as the event");
        assert.deepEqual(resolved.map((r) => [r.link?.streamId, r.link?.revision]), [[links, 0n], [links, 1n], [links, 2n]],
          "each link comes beside it");
        assert.equal(resolved[2].event, undefined, "a link past its target's end has no event");

        const plain = await readStream(client, links, { direction: FORWARDS, fromRevision: START });
        assert.deepEqual(plain.map((e) => e.type), ["$>", "$>", "$>"], "without resolveLinkTos the links are the events");
      }));
  });
}
