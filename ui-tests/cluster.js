// Starts insecure annal nodes on free loopback ports (a three-node
// cluster, or one node on a port of the caller's choosing), each node a
// separate process with its log in a temporary directory, and removes
// every process and directory again, whatever way the test ends.

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

// tempDir makes a directory that is removed with everything else at the
// end, and earlier by removeDir.
export function tempDir(prefix = "annal-ui-test-") {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
  dirs.add(dir);
  return dir;
}

export function removeDir(dir) {
  fs.rmSync(dir, { recursive: true, force: true });
  dirs.delete(dir);
}

const taken = new Set();
export async function freePort() {
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

// spawnNode starts one node process with its output in log.
function spawnNode(bin, name, endpoint, args, dir, log) {
  const fd = fs.openSync(log, "a");
  // TMPDIR puts each in-memory database in our directory, so even a
  // killed node leaves nothing behind.
  const child = spawn(bin, args, { stdio: ["ignore", fd, fd], env: { ...process.env, TMPDIR: dir } });
  fs.closeSync(fd);
  children.add(child);
  const node = { name, endpoint, log, child, exit: null };
  node.exited = new Promise((resolve) =>
    child.once("exit", (code, signal) => {
      node.exit = { code, signal };
      children.delete(child);
      resolve(node.exit);
    }),
  );
  return node;
}

// stopNode ends a node with SIGTERM, and SIGKILL if it has not exited
// within 3 s; it resolves once the process is gone.
export async function stopNode(n) {
  if (n.exit) return;
  n.child.kill("SIGTERM");
  const gone = await Promise.race([n.exited.then(() => true), sleep(3000).then(() => false)]);
  if (!gone && !n.exit) {
    n.child.kill("SIGKILL");
    await Promise.race([n.exited, sleep(3000)]);
  }
}

// startSingleNode starts a one-node cluster on the given node port (so a
// later node can take the same address) with extra options such as
// --db <dir>, and waits until it leads.
export async function startSingleNode(bin, { nodePort, replPort, args = [], dir, name = "single", timeoutMs = 30_000 }) {
  const log = path.join(dir, `${name}.log`);
  const endpoint = `127.0.0.1:${nodePort}`;
  const node = spawnNode(bin, name, endpoint, [
    "--insecure",
    "--node-ip", "127.0.0.1", "--replication-ip", "127.0.0.1",
    "--node-port", String(nodePort), "--replication-port", String(replPort),
    "--cluster-size", "1", "--discover-via-dns", "false",
    ...args,
  ], dir, log);
  node.logTail = () => `----- ${name} ${endpoint} -----\n${fs.existsSync(log) ? fs.readFileSync(log, "utf8").split("\n").slice(-60).join("\n") : ""}`;
  try {
    await waitFor(`node ${name} on ${endpoint} to lead`, timeoutMs, async () => {
      if (node.exit) throw new Error(`${name} exited ${JSON.stringify(node.exit)}`);
      const members = ((await getJSON(`http://${endpoint}/gossip`)).members ?? []).filter((m) => m.isAlive);
      return members.length === 1 && members[0].state === "Leader" && members[0].httpEndPointPort === nodePort;
    });
  } catch (err) {
    process.stderr.write(`${node.logTail()}\n`);
    await stopNode(node);
    throw err;
  }
  return node;
}

export async function startCluster(bin, { size = 3, timeoutMs = 30_000 } = {}) {
  const dir = tempDir();
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
    return spawnNode(bin, name, `127.0.0.1:${p.node}`, args, dir, log);
  });
  const cluster = {
    dir,
    nodes,
    logs() {
      return nodes.map((n) => `----- ${n.name} ${n.endpoint} -----\n${fs.existsSync(n.log) ? fs.readFileSync(n.log, "utf8").split("\n").slice(-60).join("\n") : ""}`).join("\n");
    },
    async close() {
      await Promise.all(nodes.map(stopNode));
      removeDir(dir);
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
