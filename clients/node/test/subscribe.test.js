// Catch-up subscriptions: history, then the caught-up signal, then live
// events; to one stream, to $all, and to $all through server-side filters.

import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { startSingleNode, scenario } from "../lib/harness.js";
import { libraries, makeEvents, uniqueName, Watcher } from "../lib/clients.js";

for (const lib of libraries) {
  describe(`subscribe (${lib.name})`, () => {
    let group;
    let client;
    const { START, END, NO_STREAM } = lib.mod;
    const watchers = [];

    before(async () => {
      group = await startSingleNode();
      client = lib.connect(group.connectionString(lib.scheme));
    });
    after(async () => {
      await Promise.all(watchers.map((w) => w.close()));
      await client?.dispose();
      await group?.close();
    });

    function watch(sub, keep) {
      const w = new Watcher(sub, keep);
      watchers.push(w);
      return w;
    }

    it("a stream subscription from the start gets history, caught-up, then live events", async (t) =>
      scenario(t, group, async () => {
        const stream = uniqueName("sub-stream");
        const history = makeEvents(lib, 3);
        await client.appendToStream(stream, history, lib.appendOptions(NO_STREAM));
        const w = watch(client.subscribeToStream(stream, { fromRevision: START }));
        await w.until("3 history events and caught-up", (s) => s.events.length >= 3 && s.items.some((i) => i.kind === "caughtUp"));
        const caughtAt = w.items.findIndex((i) => i.kind === "caughtUp");
        assert.equal(caughtAt, 3, `caught-up comes right after the 3 history events; got ${JSON.stringify(w.items.map((i) => i.kind))}`);
        assert.ok(w.confirmed, "the subscription was confirmed");

        const live = makeEvents(lib, 2, "TestEvent", 3);
        await client.appendToStream(stream, live, lib.appendOptions(2n));
        await w.until("2 live events", (s) => s.events.length >= 5);
        assert.deepEqual(w.events.map((e) => e.id), [...history, ...live].map((e) => e.id));
        assert.deepEqual(w.events.map((e) => e.revision), [0n, 1n, 2n, 3n, 4n]);
      }));

    it("a stream subscription to a tombstoned stream fails with StreamDeletedError and none of its events", async (t) =>
      scenario(t, group, async () => {
        const stream = uniqueName("sub-tombstoned");
        await client.appendToStream(stream, makeEvents(lib, 3), lib.appendOptions(NO_STREAM));
        await client.tombstoneStream(stream);
        const w = watch(client.subscribeToStream(stream, { fromRevision: START }));
        await w.failure("the stream-deleted drop");
        assert.ok(w.error instanceof lib.mod.StreamDeletedError,
          `dropped with ${w.error?.constructor?.name}: ${w.error?.message}`);
        assert.deepEqual(w.events, [], "a tombstoned stream's events are deleted, as a read of it says");
      }));

    it("a catch-up longer than one server page delivers every event before caught-up", async (t) =>
      scenario(t, group, async () => {
        const stream = uniqueName("sub-long");
        const n = 1100;
        for (let i = 0; i < n; i += 100) {
          await client.appendToStream(stream, makeEvents(lib, 100, "TestEvent", i), lib.appendOptions(i === 0 ? NO_STREAM : BigInt(i - 1)));
        }
        const w = watch(client.subscribeToStream(stream, { fromRevision: START }));
        await w.until(`${n} history events and caught-up`, (s) => s.items.some((i) => i.kind === "caughtUp"), 30_000);
        assert.equal(w.items.findIndex((i) => i.kind === "caughtUp"), n, "caught-up comes after all the history");
        assert.ok(w.events.every((e, i) => e.revision === BigInt(i)), "history in order, none missing or repeated");
        await client.appendToStream(stream, makeEvents(lib, 1, "TestEvent", n), lib.appendOptions(BigInt(n - 1)));
        await w.until("the live event", (s) => s.events.length >= n + 1);
        assert.equal(w.events[n].revision, BigInt(n));
      }));

    it("a stream subscription from a revision starts after it; from the end gets only new events", async (t) =>
      scenario(t, group, async () => {
        const stream = uniqueName("sub-from");
        await client.appendToStream(stream, makeEvents(lib, 4), lib.appendOptions(NO_STREAM));
        const after1 = watch(client.subscribeToStream(stream, { fromRevision: 1n }));
        const fromEnd = watch(client.subscribeToStream(stream, { fromRevision: END }));
        await after1.until("events after revision 1", (s) => s.events.length >= 2);
        await fromEnd.until("confirmation of the end subscription", (s) => s.confirmed);
        await client.appendToStream(stream, makeEvents(lib, 1, "TestEvent", 4), lib.appendOptions(3n));
        await after1.until("the live event", (s) => s.events.length >= 3);
        await fromEnd.until("the live event", (s) => s.events.length >= 1);
        assert.deepEqual(after1.events.map((e) => e.revision), [2n, 3n, 4n], "subscribing from revision 1 starts at 2");
        assert.deepEqual(fromEnd.events.map((e) => e.revision), [4n], "subscribing from the end delivers only the new event");
      }));

    it("a subscription to a stream that does not exist yet delivers it once written", async (t) =>
      scenario(t, group, async () => {
        const stream = uniqueName("sub-later");
        const w = watch(client.subscribeToStream(stream, { fromRevision: START }));
        await w.until("caught-up on an empty stream", (s) => s.items.some((i) => i.kind === "caughtUp"));
        await client.appendToStream(stream, makeEvents(lib, 2), lib.appendOptions(NO_STREAM));
        await w.until("2 live events", (s) => s.events.length >= 2);
        assert.deepEqual(w.events.map((e) => e.revision), [0n, 1n]);
      }));

    it("a $all subscription from the start gets history, caught-up, then live events", async (t) =>
      scenario(t, group, async () => {
        const stream = uniqueName("sub-all");
        const history = makeEvents(lib, 3);
        await client.appendToStream(stream, history, lib.appendOptions(NO_STREAM));
        const w = watch(client.subscribeToAll({ fromPosition: START }), (r) => r.event?.streamId === stream || false);
        const all = watch(client.subscribeToAll({ fromPosition: START }));
        await w.until("history of our stream and caught-up", (s) => s.events.length >= 3 && s.items.some((i) => i.kind === "caughtUp"));
        assert.deepEqual(w.items.slice(0, 4).map((i) => i.kind), ["event", "event", "event", "caughtUp"]);
        const live = makeEvents(lib, 2, "TestEvent", 3);
        await client.appendToStream(stream, live, lib.appendOptions(2n));
        await w.until("2 live events in $all", (s) => s.events.length >= 5);
        assert.deepEqual(w.events.map((e) => e.id), [...history, ...live].map((e) => e.id));
        await all.until("our live events in the unfiltered view", (s) => s.events.filter((e) => e.streamId === stream).length >= 5);
        const positions = all.events.map((e) => e.position.commit);
        for (let i = 1; i < positions.length; i++) {
          assert.ok(positions[i] > positions[i - 1], `$all subscription positions grow: ${positions[i - 1]} then ${positions[i]}`);
        }
      }));

    it("a $all subscription from the end gets only new events", async (t) =>
      scenario(t, group, async () => {
        const stream = uniqueName("sub-all-end");
        await client.appendToStream(stream, makeEvents(lib, 2), lib.appendOptions(NO_STREAM));
        const w = watch(client.subscribeToAll({ fromPosition: END }), (r) => r.event?.streamId === stream || false);
        await w.until("confirmation", (s) => s.confirmed);
        await client.appendToStream(stream, makeEvents(lib, 1, "TestEvent", 2), lib.appendOptions(1n));
        await w.until("the live event", (s) => s.events.length >= 1);
        assert.deepEqual(w.events.map((e) => e.revision), [2n]);
      }));

    it("a $all subscription filtered by stream-name prefix delivers only those streams", async (t) =>
      scenario(t, group, async () => {
        const prefix = uniqueName("subf");
        const w = watch(client.subscribeToAll({ fromPosition: START, filter: lib.mod.streamNameFilter({ prefixes: [prefix] }) }));
        await client.appendToStream(`${prefix}-a`, makeEvents(lib, 2), lib.appendOptions(NO_STREAM));
        await client.appendToStream(uniqueName("subf-other"), makeEvents(lib, 3), lib.appendOptions(NO_STREAM));
        await client.appendToStream(`${prefix}-b`, makeEvents(lib, 1), lib.appendOptions(NO_STREAM));
        await w.until("3 events of the prefixed streams", (s) => s.events.length >= 3);
        // Give anything that should have been filtered out a moment to show up.
        await client.appendToStream(`${prefix}-c`, makeEvents(lib, 1), lib.appendOptions(NO_STREAM));
        await w.until("the 4th prefixed event", (s) => s.events.length >= 4);
        assert.deepEqual(w.events.map((e) => e.streamId), [`${prefix}-a`, `${prefix}-a`, `${prefix}-b`, `${prefix}-c`]);
      }));

    it("a $all subscription filtered by event type delivers only those types", async (t) =>
      scenario(t, group, async () => {
        const typeTag = uniqueName("SubType");
        const stream = uniqueName("subtype");
        await client.appendToStream(stream, [
          ...makeEvents(lib, 1, `${typeTag}-keep`),
          ...makeEvents(lib, 2, `${typeTag}-drop`),
          ...makeEvents(lib, 1, `${typeTag}-keep`),
        ], lib.appendOptions(NO_STREAM));
        const w = watch(client.subscribeToAll({ fromPosition: START, filter: lib.mod.eventTypeFilter({ prefixes: [`${typeTag}-keep`] }) }));
        await w.until("the 2 history events of the kept type", (s) => s.events.length >= 2);
        await client.appendToStream(stream, [...makeEvents(lib, 1, `${typeTag}-drop`), ...makeEvents(lib, 1, `${typeTag}-keep`)], lib.appendOptions(3n));
        await w.until("the live event of the kept type", (s) => s.events.length >= 3);
        assert.deepEqual(w.events.map((e) => e.revision), [0n, 3n, 5n]);
        assert.ok(w.events.every((e) => e.type === `${typeTag}-keep`));
      }));
  });
}
