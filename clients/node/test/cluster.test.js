// A three-node cluster reached through gossip seeds: appends and reads with
// leader and follower preference; the leader killed (SIGKILL) or frozen
// (SIGSTOP), the same client carrying on against the new leader with every
// acknowledged event still there; the frozen leader rejoining once thawed.
// Failover times are printed, not asserted.

import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import { startCluster, scenario, waitFor, withTimeout } from "../lib/harness.js";
import { libraries, makeEvents, readStream, readAll, uniqueName, expectError, lastConnection } from "../lib/clients.js";

// A frozen leader is only noticed through missed heartbeats, by the other
// nodes and by the client's keepalive (10 s interval + 10 s timeout by
// default), so the bound on the retry loop leaves room for both.
const FAILOVER_BOUND_MS = 45_000;
const ATTEMPT_DEADLINE_MS = 5_000;

function report(t, line) {
  t.diagnostic(line);
  process.stderr.write(`# ${line}\n`);
}

function errText(e) {
  return `${e?.constructor?.name}${e?.type ? `(${e.type})` : ""}: ${String(e?.message).split("\n")[0]}`;
}

// appendUntilAcknowledged retries one append until the cluster acknowledges
// it, and says how long that took and what failed on the way.
async function appendUntilAcknowledged(lib, client, stream, since) {
  const errors = [];
  while (Date.now() - since < FAILOVER_BOUND_MS) {
    const events = makeEvents(lib, 1, "AfterFailure");
    try {
      await client.appendToStream(stream, events, lib.appendOptions(lib.mod.ANY, { deadline: ATTEMPT_DEADLINE_MS }));
      return { ms: Date.now() - since, ids: events.map((e) => e.id), errors };
    } catch (e) {
      errors.push(`+${Date.now() - since} ms ${errText(e)}`);
      await sleep(250);
    }
  }
  throw new Error(`no append was acknowledged within ${FAILOVER_BOUND_MS} ms of the failure; attempts:\n  ${errors.join("\n  ")}`);
}

// readBack reads the stream until it holds every acknowledged event (a
// replica may still be catching up), bounded in time.
async function readBack(client, stream, acked, what, ms = 20_000) {
  let last = [];
  let lastErr = null;
  try {
    await waitFor(`${what} to hold all ${acked.length} acknowledged events`, ms, async () => {
      try {
        last = await readStream(client, stream, {}, 10_000);
        lastErr = null;
      } catch (e) {
        lastErr = e;
        return false;
      }
      const have = new Set(last.map((e) => e.id));
      return acked.every((id) => have.has(id));
    }, 300);
  } catch (err) {
    const have = new Set(last.map((e) => e.id));
    const missing = acked.filter((id) => !have.has(id));
    throw new Error(`${err.message}; ${missing.length} missing (${missing.slice(0, 5).join(", ")}), read ${last.length}${lastErr ? `, last read error ${errText(lastErr)}` : ""}`);
  }
  return last;
}

function checkOrder(read, acked, what) {
  assert.deepEqual(read.map((e) => e.revision), read.map((_, i) => BigInt(i)), `${what}: revisions are contiguous from 0`);
  const position = new Map(read.map((e, i) => [e.id, i]));
  const order = acked.map((id) => position.get(id));
  assert.deepEqual(order, [...order].sort((a, b) => a - b), `${what}: acknowledged events keep their order`);
  assert.equal(new Set(read.map((e) => e.id)).size, read.length, `${what}: no event is stored twice`);
}

// talkingTo names the node the library last opened a channel to, and its
// role, to tell a failover that hit the client's node from one that did not.
function talkingTo(group, old) {
  const ep = lastConnection();
  const n = group.nodes.find((x) => x.endpoint === ep);
  if (!n) return `client on ${ep ?? "an unknown node"}`;
  return `client on ${n.name}${n === old ? " (the failed leader)" : ` (${n.lastState()})`}`;
}

async function appendBefore(lib, client, stream, acked) {
  for (let i = 0; i < 5; i++) {
    const events = makeEvents(lib, 2, "BeforeFailure", 2 * i);
    await client.appendToStream(stream, events, lib.appendOptions(lib.mod.ANY));
    acked.push(...events.map((e) => e.id));
  }
}

for (const lib of libraries) {
  describe(`cluster (${lib.name})`, () => {
    describe("gossip seeds; then the leader killed", () => {
      let group;
      before(async () => {
        group = await startCluster();
      });
      after(async () => {
        await group?.close();
      });

      it("appends and reads with nodePreference=leader", { timeout: 60_000 }, async (t) =>
        scenario(t, group, async () => {
          const client = lib.connect(group.connectionString(lib.scheme, "nodePreference=leader"));
          try {
            const stream = uniqueName("cluster-leader");
            const first = makeEvents(lib, 3);
            const second = makeEvents(lib, 2, "TestEvent", 3);
            await client.appendToStream(stream, first, lib.appendOptions(lib.mod.NO_STREAM));
            const res = await client.appendToStream(stream, second, lib.appendOptions(2n));
            assert.equal(res.nextExpectedRevision, 4n);
            const ids = [...first, ...second].map((e) => e.id);
            const read = await readStream(client, stream);
            assert.deepEqual(read.map((e) => e.id), ids);
            const back = await readStream(client, stream, { direction: lib.mod.BACKWARDS, fromRevision: lib.mod.END, maxCount: 2 });
            assert.deepEqual(back.map((e) => e.revision), [4n, 3n]);
            const all = (await readAll(client)).filter((e) => e.streamId === stream);
            assert.deepEqual(all.map((e) => e.id), ids, "$all on the cluster holds the events in order");
          } finally {
            await client.dispose();
          }
        }));

      it("appends and reads with nodePreference=follower", { timeout: 60_000 }, async (t) =>
        scenario(t, group, async () => {
          const client = lib.connect(group.connectionString(lib.scheme, "nodePreference=follower"));
          try {
            const stream = uniqueName("cluster-follower");
            const acked = [];
            const notLeader = [];
            // Writes reaching a follower are forwarded to the leader; a
            // server that answers not-leader instead costs one attempt.
            for (let i = 0; i < 3; i++) {
              const events = makeEvents(lib, 2, "TestEvent", 2 * i);
              for (let attempt = 0; ; attempt++) {
                try {
                  await client.appendToStream(stream, events, lib.appendOptions(lib.mod.ANY));
                  break;
                } catch (e) {
                  if (!(e instanceof lib.mod.NotLeaderError) || attempt >= 2) throw e;
                  notLeader.push(errText(e));
                }
              }
              acked.push(...events.map((e) => e.id));
            }
            if (notLeader.length) report(t, `${lib.name} follower preference: appends answered not-leader ${notLeader.length} time(s): ${notLeader[0]}`);
            const read = await readBack(client, stream, acked, "a read with follower preference");
            checkOrder(read, acked, "follower read");
          } finally {
            await client.dispose();
          }
        }));

      it("a follower asked directly: writes are forwarded; requiresLeader gets NotLeaderError naming the leader", { timeout: 60_000 }, async (t) =>
        scenario(t, group, async () => {
          const leader = await group.leader({ followers: 2 });
          const follower = group.nodes.find((n) => n !== leader && n.running);
          // One host: a direct connection, no discovery.
          const direct = `${lib.scheme}://${follower.endpoint}?tls=false&nodePreference=follower`;
          const clients = [];
          const connect = () => {
            const c = lib.connect(direct);
            clients.push(c);
            return c;
          };
          try {
            const stream = uniqueName("cluster-direct");
            const forwarded = makeEvents(lib, 2);
            await connect().appendToStream(stream, forwarded, lib.appendOptions(lib.mod.NO_STREAM));

            // The libraries keep one BatchAppend call per connection, made
            // with the first append's headers; so requiresLeader only counts
            // on a connection's first append.
            const strict = connect();
            const err = await expectError(lib, "NotLeaderError",
              () => strict.appendToStream(stream, makeEvents(lib, 1), lib.appendOptions(1n, { requiresLeader: true })),
              `append with requiresLeader on follower ${follower.name}`);
            assert.deepEqual({ address: err.leader?.address, port: err.leader?.port }, { address: "127.0.0.1", port: leader.nodePort },
              `not-leader names the leader ${leader.name} (${leader.endpoint})`);
            // The library now talks to the leader it was given.
            const next = makeEvents(lib, 1, "TestEvent", 2);
            await strict.appendToStream(stream, next, lib.appendOptions(1n, { requiresLeader: true }));
            const all = [...forwarded, ...next].map((e) => e.id);
            checkOrder(await readBack(strict, stream, all, "a read after following not-leader"), all, "after not-leader");

            await expectError(lib, "NotLeaderError",
              () => readStream(connect(), stream, { requiresLeader: true }),
              `readStream with requiresLeader on follower ${follower.name}`);
          } finally {
            await Promise.all(clients.map((c) => withTimeout(c.dispose(), 10_000, "client dispose").catch(() => {})));
          }
        }));

      it("the leader killed with SIGKILL: the client carries on and keeps every acknowledged event", { timeout: 120_000 }, async (t) =>
        scenario(t, group, async () => {
          const client = lib.connect(group.connectionString(lib.scheme, "nodePreference=leader"));
          try {
            const stream = uniqueName("failover-kill");
            const acked = [];
            await appendBefore(lib, client, stream, acked);
            const old = await group.leader();
            const via = talkingTo(group, old);
            const since = Date.now();
            await old.kill();
            const r = await appendUntilAcknowledged(lib, client, stream, since);
            acked.push(...r.ids);
            report(t, `FAILOVER ${lib.name} SIGKILL leader ${old.name}, ${via}: next acknowledged append after ${r.ms} ms (${r.errors.length} failed attempts${r.errors.length ? `: ${r.errors.slice(0, 3).join(" | ")}` : ""})`);
            const now = await group.leader({ exclude: [old] });
            assert.notEqual(now, old);
            for (let i = 0; i < 3; i++) {
              const events = makeEvents(lib, 1, "AfterFailover");
              await client.appendToStream(stream, events, lib.appendOptions(lib.mod.ANY));
              acked.push(...events.map((e) => e.id));
            }
            const read = await readBack(client, stream, acked, `a read from the new leader ${now.name}`);
            checkOrder(read, acked, "after the kill");
          } finally {
            await withTimeout(client.dispose(), 10_000, "client dispose").catch(() => {});
          }
        }));
    });

    describe("the leader frozen with SIGSTOP", () => {
      let group;
      before(async () => {
        group = await startCluster();
      });
      after(async () => {
        await group?.close();
      });

      it("the client carries on, every acknowledged event stays, the thawed leader rejoins", { timeout: 150_000 }, async (t) =>
        scenario(t, group, async () => {
          const client = lib.connect(group.connectionString(lib.scheme, "nodePreference=leader"));
          let direct;
          try {
            const stream = uniqueName("failover-stop");
            const acked = [];
            await appendBefore(lib, client, stream, acked);
            const old = await group.leader();
            const via = talkingTo(group, old);
            const since = Date.now();
            old.freeze();
            const r = await appendUntilAcknowledged(lib, client, stream, since);
            acked.push(...r.ids);
            report(t, `FAILOVER ${lib.name} SIGSTOP leader ${old.name}, ${via}: next acknowledged append after ${r.ms} ms (${r.errors.length} failed attempts${r.errors.length ? `: ${r.errors.slice(0, 3).join(" | ")}` : ""})`);
            const now = await group.leader({ exclude: [old] });
            assert.notEqual(now, old);
            const read = await readBack(client, stream, acked, `a read from the new leader ${now.name}`);
            checkOrder(read, acked, "after the freeze");

            const thawedAt = Date.now();
            old.thaw();
            // A leader that sees another leader in gossip calls an election
            // (as EventStoreDB does), so leadership may move once the stale
            // leader is back; what must hold is one leader and two followers,
            // the old leader among them.
            const settled = await group.leader({ followers: 2, timeoutMs: 30_000 });
            report(t, `${lib.name}: ${old.name} back as ${old.lastState()}, logs and gossip agreeing, ${Date.now() - thawedAt} ms after SIGCONT; leader ${settled.name}${settled === now ? " (unchanged)" : ` (moved from ${now.name})`}`);

            // The client carries on through any election the rejoin caused.
            const after = await appendUntilAcknowledged(lib, client, stream, Date.now());
            acked.push(...after.ids);
            if (after.errors.length) report(t, `${lib.name}: appends after the rejoin failed ${after.errors.length} time(s) for ${after.ms} ms: ${after.errors.slice(0, 3).join(" | ")}`);

            // The rejoined node, asked directly, has caught up with everything acknowledged.
            direct = lib.connect(`${lib.scheme}://${old.endpoint}?tls=false&nodePreference=follower`);
            const onOld = await readBack(direct, stream, acked, `a read from the rejoined ${old.name}`);
            checkOrder(onOld, acked, "on the rejoined node");
          } finally {
            await withTimeout(client.dispose(), 10_000, "client dispose").catch(() => {});
            if (direct) await withTimeout(direct.dispose(), 10_000, "client dispose").catch(() => {});
          }
        }));
    });
  });
}
