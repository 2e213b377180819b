// The official Node client library of this test process behind one small
// adapter, so each scenario is written once and run against both libraries
// (one process each; see libraries.js for why and for where their APIs
// differ).

import { randomUUID } from "node:crypto";
import { format } from "node:util";
import createDebug from "debug";
import { withTimeout } from "./harness.js";
import { known, libraryKeys } from "./libraries.js";

async function load(key) {
  const spec = known[key];
  if (!spec) {
    throw new Error(`CLIENT_LIB=${key} is not one of ${libraryKeys.join(", ")}; run the suite with npm test, which runs it once per library`);
  }
  const mod = await import(spec.pkg);
  return { ...spec, mod, connect: (cs) => spec.connect(mod, cs) };
}

const chosen = (process.env.CLIENT_LIB ?? "").split(",").map((s) => s.trim()).filter(Boolean);
if (chosen.length !== 1) {
  throw new Error(
    `set CLIENT_LIB to exactly one of ${libraryKeys.join(", ")} (got ${JSON.stringify(process.env.CLIENT_LIB ?? "")}): ` +
      "the two libraries cannot share a process (their generated protobuf classes collide); npm test runs the suite once per library",
  );
}

// The libraries log through debug ("esdb:connection", "kdb:connection")
// each time they open a channel; keeping those lines says which node a
// client was talking to when a failure hit it. DEBUG still prints as usual.
const connections = [];
const printDebug = createDebug.log ?? ((...args) => process.stderr.write(format(...args) + "\n"));
createDebug.enable([process.env.DEBUG, "esdb:connection", "kdb:connection"].filter(Boolean).join(","));
createDebug.log = (...args) => {
  const line = format(...args);
  const m = line.match(/Connecting to https?:\/\/(\S+)/);
  if (m) connections.push(m[1]);
  if (process.env.DEBUG) printDebug(...args);
};

// lastConnection is the endpoint the library of this process last opened a
// channel to.
export function lastConnection() {
  return connections[connections.length - 1];
}

// libraries is what each test file loops over: the one library of this
// process.
export const libraries = [await load(chosen[0])];

let counter = 0;
// uniqueName gives every test its own streams (and event types), so tests
// never depend on each other's data.
export function uniqueName(prefix) {
  counter += 1;
  return `${prefix}-${process.pid}-${Date.now().toString(36)}-${counter}-${randomUUID().slice(0, 8)}`;
}

export function makeEvents(lib, n, type = "TestEvent", start = 0) {
  const out = [];
  for (let i = 0; i < n; i++) {
    out.push(lib.mod.jsonEvent({ id: randomUUID(), type, data: { index: start + i } }));
  }
  return out;
}

export async function collect(iterable, what, ms = 15_000) {
  const run = async () => {
    const out = [];
    for await (const e of iterable) out.push(e);
    return out;
  };
  return withTimeout(run(), ms, what);
}

// readStream reads a whole (finite) stream read into an array of
// { id, revision, type, data, streamId, position }.
export async function readStream(client, stream, options = {}, ms = 15_000) {
  const events = await collect(client.readStream(stream, options), `readStream ${stream} ${fmt(options)}`, ms);
  return events.map(simplify);
}

export async function readAll(client, options = {}, ms = 15_000) {
  const events = await collect(client.readAll(options), `readAll ${fmt(options)}`, ms);
  return events.map(simplify);
}

export function simplify(resolved) {
  const e = resolved.event;
  return {
    id: e.id,
    streamId: e.streamId,
    revision: e.revision,
    type: e.type,
    data: e.data,
    position: e.position,
  };
}

function fmt(options) {
  return JSON.stringify(options, (_, v) => (typeof v === "bigint" ? `${v}n` : typeof v === "symbol" ? v.toString() : v));
}

// expectError runs fn and checks that it fails with the library's own error
// class; it returns the error for further checks.
export async function expectError(lib, className, fn, what) {
  let result;
  try {
    result = await fn();
  } catch (err) {
    const cls = lib.mod[className];
    if (!(err instanceof cls)) {
      const e = new Error(
        `${what}: expected ${lib.name} ${className}, got ${err?.constructor?.name} (type ${err?.type}, code ${err?.code}): ${err?.message}`,
      );
      e.cause = err;
      throw e;
    }
    return err;
  }
  throw new Error(`${what}: expected ${lib.name} ${className}, but the call succeeded with ${fmt(result)}`);
}

// Watcher records what a catch-up subscription delivers, in order, so a test
// can wait for "these events, then caught up, then those".
export class Watcher {
  constructor(subscription, keep = () => true) {
    this.subscription = subscription;
    this.items = [];
    this.error = null;
    this.confirmed = false;
    this.waiters = new Set();
    subscription.on("data", (resolved) => {
      if (!keep(resolved)) return;
      this.items.push({ kind: "event", ...simplify(resolved) });
      this.wake();
    });
    subscription.on("caughtUp", () => {
      this.items.push({ kind: "caughtUp" });
      this.wake();
    });
    subscription.on("confirmation", () => {
      this.confirmed = true;
      this.wake();
    });
    subscription.on("error", (err) => {
      this.error = err;
      this.wake();
    });
  }

  get events() {
    return this.items.filter((i) => i.kind === "event");
  }

  wake() {
    for (const w of this.waiters) w();
  }

  async until(what, predicate, ms = 15_000) {
    const deadline = Date.now() + ms;
    while (true) {
      if (this.error) {
        throw new Error(`subscription failed while waiting for ${what}: ${this.error.constructor?.name}: ${this.error.message}`);
      }
      if (predicate(this)) return;
      const left = deadline - Date.now();
      if (left <= 0) {
        throw new Error(`timed out after ${ms} ms waiting for ${what}; subscription delivered: ${fmt(this.items.map(describeItem))}`);
      }
      await this.nap(left);
    }
  }

  // nap waits until the subscription delivers something, or 200 ms (at
  // most left) pass.
  nap(left) {
    return new Promise((resolve) => {
      const timer = setTimeout(done, Math.min(left, 200));
      const self = this;
      function done() {
        clearTimeout(timer);
        self.waiters.delete(done);
        resolve();
      }
      this.waiters.add(done);
    });
  }

  // failure waits for the subscription to fail, and returns its error.
  async failure(what, ms = 15_000) {
    const deadline = Date.now() + ms;
    while (!this.error) {
      const left = deadline - Date.now();
      if (left <= 0) {
        throw new Error(`timed out after ${ms} ms waiting for ${what}; subscription delivered: ${fmt(this.items.map(describeItem))}`);
      }
      await this.nap(left);
    }
    return this.error;
  }

  async close() {
    try {
      await withTimeout(this.subscription.unsubscribe(), 5_000, "unsubscribe");
    } catch {}
  }
}

function describeItem(i) {
  return i.kind === "event" ? `${i.streamId}@${i.revision}:${i.type}` : i.kind;
}
