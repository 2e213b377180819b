// One three-node cluster started without --insecure (TLS with a CA made for
// it, authentication and authorization on), reached over TLS as admin, as
// ops, without credentials, with a wrong password, and without TLS; and a
// node given neither --insecure nor certificates, which must not start.

import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import { annalBinary, freePort, startSecureCluster, scenario, withTimeout } from "../lib/harness.js";
import { libraries, makeEvents, readStream, readAll, uniqueName, expectError, lastConnection, Watcher } from "../lib/clients.js";

// A refused client must say so well before this; reaching it is a hang.
const REFUSAL_BOUND_MS = 20_000;
const START_REFUSAL_BOUND_MS = 15_000;

for (const lib of libraries) {
  describe(`secure cluster over TLS: ${lib.name}`, () => {
    let group;
    const clients = [];
    const connect = (userinfo, query = "") => {
      const c = lib.connect(group.secureConnectionString(lib.scheme, userinfo, query));
      clients.push(c);
      return c;
    };
    let admin;

    before(async () => {
      group = await startSecureCluster();
      admin = connect("admin:changeit");
    });
    after(async () => {
      await Promise.allSettled(clients.map((c) => withTimeout(c.dispose(), 5_000, "dispose client")));
      await group?.close();
    });

    it("admin appends, reads a stream and $all, and subscribes", async (t) => {
      await scenario(t, group, async () => {
        const stream = uniqueName("secure-admin");
        const events = makeEvents(lib, 3, "SecureEvent");
        await admin.appendToStream(stream, events, lib.appendOptions(lib.mod.NO_STREAM));
        const read = await readStream(admin, stream);
        assert.deepEqual(read.map((e) => e.id), events.map((e) => e.id), "the stream reads back as appended");

        const all = await readAll(admin, { direction: lib.mod.BACKWARDS, fromPosition: lib.mod.END, maxCount: 1000 });
        assert.deepEqual(
          all.filter((e) => e.streamId === stream).map((e) => e.id),
          events.map((e) => e.id).reverse(),
          "$all backwards holds the stream's events",
        );

        const w = new Watcher(admin.subscribeToStream(stream, { fromRevision: lib.mod.START }));
        try {
          await w.until("the 3 stored events and caught-up", (x) => x.events.length === 3 && x.items.some((i) => i.kind === "caughtUp"));
          const live = makeEvents(lib, 1, "SecureLive");
          await admin.appendToStream(stream, live, lib.appendOptions(2n));
          await w.until("the live event", (x) => x.events.length === 4);
          assert.deepEqual(w.events.map((e) => e.id), [...events, ...live].map((e) => e.id));
        } finally {
          await w.close();
        }
      });
    });

    it("ops uses user streams but may not read $all", async (t) => {
      await scenario(t, group, async () => {
        const ops = connect("ops:changeit");
        const stream = uniqueName("secure-ops");
        const events = makeEvents(lib, 2, "OpsEvent");
        await ops.appendToStream(stream, events, lib.appendOptions(lib.mod.NO_STREAM));
        assert.deepEqual((await readStream(ops, stream)).map((e) => e.id), events.map((e) => e.id));
        await expectError(lib, "AccessDeniedError", () => readAll(ops, { maxCount: 10 }), "read $all as ops");
      });
    });

    it("no credentials: the client connects but stream operations are denied", async (t) => {
      await scenario(t, group, async () => {
        const anon = connect("");
        const stream = uniqueName("secure-anon");
        await expectError(lib, "AccessDeniedError", () => anon.appendToStream(stream, makeEvents(lib, 1, "AnonEvent")), "append without credentials");
        // Denied by the node, not unreachable: discovery (gossip, served to
        // anyone) found a node and the library opened a channel to it.
        assert.ok(group.endpoints.includes(lastConnection()), `the client connected to a node of the cluster (last connection: ${lastConnection()})`);

        await admin.appendToStream(stream, makeEvents(lib, 1, "AdminEvent"), lib.appendOptions(lib.mod.NO_STREAM));
        await expectError(lib, "AccessDeniedError", () => readStream(anon, stream), "read a stream without credentials");
      });
    });

    it("a wrong password is refused (UNAUTHENTICATED)", async (t) => {
      await scenario(t, group, async () => {
        const bad = connect("admin:not-the-password");
        const stream = uniqueName("secure-badpw");
        const err = await expectError(lib, "AccessDeniedError", () => bad.appendToStream(stream, makeEvents(lib, 1, "BadEvent")), "append with a wrong password");
        // Both libraries append through grpc-js, which keeps the status.
        assert.equal(err.code, 16, `the append failed with UNAUTHENTICATED (16), got code ${err.code}: ${err.message}`);
        await expectError(lib, lib.unauthenticatedReadError, () => readStream(bad, stream), "read with a wrong password");
      });
    });

    it("tls=false is refused promptly", async (t) => {
      await scenario(t, group, async () => {
        const opts = lib.appendOptions(lib.mod.ANY);
        // Through gossip seeds: every discovery attempt is refused, so
        // discovery gives up.
        const viaSeeds = lib.connect(`${lib.scheme}://admin:changeit@${group.endpoints.join(",")}?tls=false`);
        clients.push(viaSeeds);
        let started = Date.now();
        await assert.rejects(
          withTimeout(viaSeeds.appendToStream(uniqueName("secure-plain"), makeEvents(lib, 1, "PlainEvent"), opts), REFUSAL_BOUND_MS, "append with tls=false via gossip seeds"),
          (err) => /discover/i.test(err.message),
          "an append with tls=false through gossip seeds fails as a discovery failure",
        );
        t.diagnostic(`tls=false via gossip seeds refused after ${Date.now() - started} ms`);

        // One node, no discovery: the call itself is refused. The node
        // answers cleartext HTTP/2 with GOAWAY INADEQUATE_SECURITY, which
        // grpc-js reports as PERMISSION_DENIED "Protocol not secure
        // enough" (it drops the GOAWAY's text).
        const direct = lib.connect(`${lib.scheme}://admin:changeit@${group.endpoints[0]}?tls=false`);
        clients.push(direct);
        started = Date.now();
        await assert.rejects(
          withTimeout(direct.appendToStream(uniqueName("secure-plain"), makeEvents(lib, 1, "PlainEvent"), opts), REFUSAL_BOUND_MS, "append with tls=false to one node"),
          (err) => err.code === 7 && /not secure/i.test(err.message),
          "an append with tls=false to one node fails with PERMISSION_DENIED: Protocol not secure enough",
        );
        t.diagnostic(`tls=false to one node refused after ${Date.now() - started} ms`);
      });
    });
  });
}

describe("a node without --insecure and without certificates", () => {
  it("refuses to start, naming --insecure", async () => {
    const bin = annalBinary();
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "annal-node-clients-"));
    try {
      const args = ["--mem-db", "--node-ip", "127.0.0.1", "--replication-ip", "127.0.0.1",
        "--node-port", String(await freePort()), "--replication-port", String(await freePort())];
      const child = spawn(bin, args, { cwd: dir, env: { ...process.env, TMPDIR: dir }, stdio: ["ignore", "pipe", "pipe"] });
      let stdout = "";
      let stderr = "";
      child.stdout.on("data", (d) => (stdout += d));
      child.stderr.on("data", (d) => (stderr += d));
      const exited = new Promise((resolve) => child.once("close", (code, signal) => resolve({ code, signal })));
      let result;
      try {
        result = await withTimeout(exited, START_REFUSAL_BOUND_MS, `annal ${args.join(" ")} to exit instead of starting`);
      } catch (err) {
        child.kill("SIGKILL");
        await exited;
        throw new Error(`${err.message}; stderr so far:\n${stderr}`);
      }
      assert.ok(result.code !== 0 && result.code !== null, `annal exited with ${JSON.stringify(result)}, want a non-zero exit; stdout:\n${stdout}\nstderr:\n${stderr}`);
      assert.match(stderr, /--insecure/, `stderr names --insecure (exit ${result.code}; stdout ${JSON.stringify(stdout)})`);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
