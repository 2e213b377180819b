// Starts a three-node insecure annal cluster on free loopback ports, each
// node a separate process with its log in a temporary directory, and
// removes every process and directory again, whatever way the test ends.

import { spawn } from "node:child_process";
import fs from "node:fs";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import { setTimeout as sleep } from "node:timers/promises";

const children = new Set();
const dirs = new Set();

export function cleanupNow() {
  for (const c of children) {
    try {
      c.kill("SIGKILL");
    } catch {}
  }
  children.clear();
  for (const d of dirs) fs.rmSync(d, { recursive: true, force: true });
  dirs.clear();
}
process.on("exit", cleanupNow);
for (const sig of ["SIGINT", "SIGTERM"]) {
  process.once(sig, () => {
    cleanupNow();
    process.exit(130);
  });
}

// waitFor polls check until it returns something truthy, or fails after
// timeoutMs naming what it waited for and the last error seen.
export async function waitFor(what, timeoutMs, check, intervalMs = 150) {
  const deadline = Date.now() + timeoutMs;
  let last;
  while (Date.now() < deadline) {
    try {
      const v = await check();
      if (v) return v;
    } catch (err) {
      last = err;
    }
    await sleep(intervalMs);
  }
  throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${last ? ` (last error: ${last.message})` : ""}`);
}

const taken = new Set();
async function freePort() {
  for (;;) {
    const port = await new Promise((resolve, reject) => {
      const srv = net.createServer();
      srv.once("error", reject);
      srv.listen(0, "127.0.0.1", () => {
        const { port } = srv.address();
        srv.close(() => resolve(port));
      });
    });
    if (!taken.has(port)) {
      taken.add(port);
      return port;
    }
  }
}

async function getJSON(url, timeoutMs = 1000) {
  const res = await fetch(url, { signal: AbortSignal.timeout(timeoutMs) });
  if (!res.ok) throw new Error(`GET ${url}: HTTP ${res.status}`);
  return res.json();
}

export async function startCluster(bin, { size = 3, timeoutMs = 30_000 } = {}) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "annal-ui-test-"));
  dirs.add(dir);
  const ports = [];
  for (let i = 0; i < size; i++) ports.push({ node: await freePort(), repl: await freePort() });
  const nodes = ports.map((p, i) => {
    const name = `n${i + 1}`;
    const log = path.join(dir, `${name}.log`);
    const args = [
      "--insecure", "--mem-db",
      "--node-ip", "127.0.0.1", "--replication-ip", "127.0.0.1",
      "--node-port", String(p.node), "--replication-port", String(p.repl),
      "--cluster-size", String(size), "--discover-via-dns", "false",
      "--gossip-seed", ports.filter((_, j) => j !== i).map((o) => `127.0.0.1:${o.node}`).join(","),
    ];
    const fd = fs.openSync(log, "a");
    // TMPDIR puts each in-memory database in our directory, so even a
    // killed node leaves nothing behind.
    const child = spawn(bin, args, { stdio: ["ignore", fd, fd], env: { ...process.env, TMPDIR: dir } });
    fs.closeSync(fd);
    children.add(child);
    const node = { name, endpoint: `127.0.0.1:${p.node}`, log, child, exit: null };
    child.once("exit", (code, signal) => {
      node.exit = { code, signal };
      children.delete(child);
    });
    return node;
  });
  const cluster = {
    dir,
    nodes,
    logs() {
      return nodes.map((n) => `----- ${n.name} ${n.endpoint} -----\n${fs.existsSync(n.log) ? fs.readFileSync(n.log, "utf8").split("\n").slice(-60).join("\n") : ""}`).join("\n");
    },
    async close() {
      await Promise.all(
        nodes.map(async (n) => {
          if (n.exit) return;
          n.child.kill("SIGTERM");
          const gone = await Promise.race([new Promise((r) => n.child.once("exit", () => r(true))), sleep(3000).then(() => false)]);
          if (!gone && !n.exit) n.child.kill("SIGKILL");
        }),
      );
      fs.rmSync(dir, { recursive: true, force: true });
      dirs.delete(dir);
    },
  };
  // Ready: every node's gossip shows all of them alive and one Leader.
  cluster.leader = await waitFor(`a ${size}-node cluster with one leader`, timeoutMs, async () => {
    let leader = null;
    for (const n of nodes) {
      if (n.exit) throw new Error(`${n.name} exited ${JSON.stringify(n.exit)}`);
      const members = ((await getJSON(`http://${n.endpoint}/gossip`)).members ?? []).filter((m) => m.isAlive);
      const leaders = members.filter((m) => m.state === "Leader");
      if (members.length !== size || leaders.length !== 1) return null;
      leader = `${leaders[0].httpEndPointIp}:${leaders[0].httpEndPointPort}`;
    }
    return leader;
  });
  return cluster;
}
