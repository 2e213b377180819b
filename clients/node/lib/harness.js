// Starts real annal processes for the client tests: single nodes and
// three-node clusters on loopback, each with its own temporary directory,
// its log captured to a file, and everything removed again even when a test
// fails or the test process is interrupted.

import { execFileSync, spawn } from "node:child_process";
import fs from "node:fs";
import http from "node:http";
import https from "node:https";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import { setTimeout as sleep } from "node:timers/promises";

const LIVE_TIMEOUT_MS = 15_000;
const LEADER_TIMEOUT_MS = 30_000;
const STOP_GRACE_MS = 3_000;

// Every process and directory this test process made, so that an exit for
// any reason (a failed hook, Ctrl-C, a test timeout) still removes them.
const liveProcesses = new Set();
const tempDirs = new Set();

function killEverythingNow() {
  for (const p of liveProcesses) {
    try {
      // A frozen process only dies once it runs again.
      process.kill(p.pid, "SIGCONT");
    } catch {}
    try {
      process.kill(p.pid, "SIGKILL");
    } catch {}
  }
  liveProcesses.clear();
  for (const d of tempDirs) {
    try {
      fs.rmSync(d, { recursive: true, force: true });
    } catch {}
  }
  tempDirs.clear();
}
process.on("exit", killEverythingNow);
for (const sig of ["SIGINT", "SIGTERM"]) {
  process.once(sig, () => {
    killEverythingNow();
    process.exit(130);
  });
}

export function annalBinary() {
  const bin = process.env.ANNAL_BIN;
  if (!bin) {
    throw new Error(
      "ANNAL_BIN is not set: build the server (cd /work/main && go build -o /tmp/annal ./cmd/annal) and run with ANNAL_BIN=/tmp/annal",
    );
  }
  try {
    fs.accessSync(bin, fs.constants.X_OK);
  } catch {
    throw new Error(`ANNAL_BIN=${bin} is not an executable file; build it with go build -o ${bin} ./cmd/annal`);
  }
  return bin;
}

const handedOutPorts = new Set();

// freePort asks the kernel for an unused loopback port, never giving the
// same one twice in this process.
export async function freePort() {
  for (let i = 0; i < 50; i++) {
    const port = await new Promise((resolve, reject) => {
      const srv = net.createServer();
      srv.once("error", reject);
      srv.listen(0, "127.0.0.1", () => {
        const { port } = srv.address();
        srv.close(() => resolve(port));
      });
    });
    if (!handedOutPorts.has(port)) {
      handedOutPorts.add(port);
      return port;
    }
  }
  throw new Error("no free loopback port found after 50 tries");
}

export async function waitFor(what, timeoutMs, check, intervalMs = 100) {
  const deadline = Date.now() + timeoutMs;
  let last;
  while (Date.now() < deadline) {
    try {
      const v = await check();
      if (v) return v;
    } catch (err) {
      if (err.fatal) throw err;
      last = err;
    }
    await sleep(intervalMs);
  }
  throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${last ? ` (last error: ${last.message})` : ""}`);
}

// withTimeout fails with a message naming what was awaited, instead of
// leaving a test to the runner's timeout.
export async function withTimeout(promise, ms, what) {
  let timer;
  const timeout = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms: ${what}`)), ms);
  });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

// httpGet asks a node's HTTP endpoint (health, gossip) for path, over TLS
// trusting the group's CA when the node is secure; bounded by timeoutMs.
function httpGet(node, urlPath, timeoutMs = 1000) {
  const secure = node.certs !== null;
  const mod = secure ? https : http;
  return new Promise((resolve, reject) => {
    const req = mod.get(
      {
        host: "127.0.0.1",
        port: node.nodePort,
        path: urlPath,
        agent: false,
        timeout: timeoutMs,
        ...(secure ? { ca: node.certs.ca, servername: "localhost" } : {}),
      },
      (res) => {
        const chunks = [];
        res.on("data", (c) => chunks.push(c));
        res.on("end", () => resolve({ status: res.statusCode, body: Buffer.concat(chunks).toString("utf8") }));
        res.on("error", reject);
      },
    );
    req.on("timeout", () => req.destroy(new Error(`GET ${urlPath} on ${node.endpoint}: no answer within ${timeoutMs} ms`)));
    req.on("error", reject);
  });
}

// makeCertificates writes a CA (in dir/ca, a directory of its own: a
// node's trusted root path holds certificates only) and one certificate per
// node name (dir/<name>/node.crt and node.key) with openssl: CN
// eventstoredb-node (annal's default reserved node common name is its own
// certificate's CN), SAN IP 127.0.0.1 and DNS localhost, usable as server
// and as client (nodes dial each other with it).
function makeCertificates(dir, names) {
  const openssl = (...args) => {
    try {
      execFileSync("openssl", args, { cwd: dir, stdio: ["ignore", "ignore", "pipe"], timeout: 15_000 });
    } catch (err) {
      throw new Error(`openssl ${args.join(" ")} failed (openssl 3 must be on PATH): ${err.stderr?.toString() || err.message}`);
    }
  };
  fs.mkdirSync(path.join(dir, "ca"));
  openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
    "-keyout", "ca.key", "-out", "ca/ca.crt", "-days", "30", "-subj", "/CN=annal test CA");
  fs.writeFileSync(path.join(dir, "node-ext.cnf"),
    "subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth,clientAuth\nkeyUsage=digitalSignature,keyEncipherment\n");
  const caFile = path.join(dir, "ca", "ca.crt");
  const ca = fs.readFileSync(caFile);
  const out = {};
  for (const name of names) {
    fs.mkdirSync(path.join(dir, name));
    openssl("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
      "-keyout", `${name}/node.key`, "-out", `${name}/node.csr`, "-subj", "/CN=eventstoredb-node");
    openssl("x509", "-req", "-in", `${name}/node.csr`, "-CA", "ca/ca.crt", "-CAkey", "ca.key", "-CAcreateserial",
      "-out", `${name}/node.crt`, "-days", "30", "-extfile", "node-ext.cnf");
    out[name] = {
      certFile: path.join(dir, name, "node.crt"),
      keyFile: path.join(dir, name, "node.key"),
      caDir: path.join(dir, "ca"),
      caFile,
      ca,
    };
  }
  return out;
}

export class AnnalNode {
  constructor({ name, nodePort, replPort, dir, seeds, clusterSize, certs = null }) {
    this.name = name;
    this.nodePort = nodePort;
    this.replPort = replPort;
    this.dir = dir;
    this.seeds = seeds;
    this.clusterSize = clusterSize;
    // certs makes the node secure (TLS, authentication, authorization);
    // null starts it with --insecure.
    this.certs = certs;
    this.logPath = path.join(dir, `${name}.log`);
    this.child = null;
    this.frozen = false;
    this.exited = null;
    this.exitInfo = null;
  }

  get endpoint() {
    return `127.0.0.1:${this.nodePort}`;
  }

  args() {
    const security = this.certs
      ? [
          "--certificate-file", this.certs.certFile,
          "--certificate-private-key-file", this.certs.keyFile,
          "--trusted-root-certificates-path", this.certs.caDir,
        ]
      : ["--insecure"];
    const a = [
      ...security,
      "--mem-db",
      "--node-ip", "127.0.0.1",
      "--replication-ip", "127.0.0.1",
      "--node-port", String(this.nodePort),
      "--replication-port", String(this.replPort),
    ];
    if (this.clusterSize > 1) {
      a.push(
        "--cluster-size", String(this.clusterSize),
        "--discover-via-dns", "false",
        "--gossip-seed", this.seeds.join(","),
      );
    }
    return a;
  }

  start() {
    const fd = fs.openSync(this.logPath, "a");
    fs.writeSync(fd, `# ${annalBinary()} ${this.args().join(" ")}\n`);
    // The node's in-memory database lives in a temporary directory; TMPDIR
    // puts it in ours, so a killed node leaves nothing behind.
    this.child = spawn(annalBinary(), this.args(), {
      stdio: ["ignore", fd, fd],
      env: { ...process.env, TMPDIR: this.dir },
    });
    fs.closeSync(fd);
    liveProcesses.add(this.child);
    this.exited = new Promise((resolve) => {
      this.child.once("exit", (code, signal) => {
        this.exitInfo = { code, signal };
        liveProcesses.delete(this.child);
        resolve(this.exitInfo);
      });
    });
  }

  get running() {
    return this.child !== null && this.exitInfo === null;
  }

  async waitLive(timeoutMs = LIVE_TIMEOUT_MS) {
    await waitFor(`${this.name} (${this.endpoint}) to answer GET /health/live with 204`, timeoutMs, async () => {
      if (!this.running) {
        throw new Error(`${this.name} exited (${JSON.stringify(this.exitInfo)}) before it was live:\n${this.logTail(40)}`);
      }
      try {
        const res = await httpGet(this, "/health/live");
        return res.status === 204;
      } catch (err) {
        if (!this.running) throw err;
        return false;
      }
    });
  }

  log() {
    try {
      return fs.readFileSync(this.logPath, "utf8");
    } catch {
      return "";
    }
  }

  logTail(lines = 80) {
    return this.log().split("\n").slice(-lines - 1).join("\n");
  }

  // lastState is the node's most recent VNode state as its log reports it
  // ("state Leader (epoch 3)").
  lastState() {
    const matches = [...this.log().matchAll(/ state (\w+) \(epoch/g)];
    return matches.length ? matches[matches.length - 1][1] : null;
  }

  freeze() {
    this.child.kill("SIGSTOP");
    this.frozen = true;
  }

  thaw() {
    this.child.kill("SIGCONT");
    this.frozen = false;
  }

  async kill() {
    if (!this.running) return;
    try {
      this.child.kill("SIGCONT");
    } catch {}
    this.frozen = false;
    this.child.kill("SIGKILL");
    await withTimeout(this.exited, 10_000, `${this.name} to exit after SIGKILL`);
  }

  async stop() {
    if (!this.running) return;
    if (this.frozen) this.thaw();
    this.child.kill("SIGTERM");
    const done = await Promise.race([this.exited, sleep(STOP_GRACE_MS).then(() => null)]);
    if (done === null) await this.kill();
  }
}

// gossipView is the cluster as a node's GET /gossip shows it.
async function gossipView(node) {
  const res = await httpGet(node, "/gossip");
  if (res.status !== 200) {
    const err = new Error(`GET /gossip on ${node.name} (${node.endpoint}) answered HTTP ${res.status}; the harness needs the gossip endpoint to know the leader`);
    // A node without the endpoint will not grow one: fail now, not at the timeout.
    err.fatal = res.status === 404;
    throw err;
  }
  return JSON.parse(res.body).members ?? [];
}

// Group is a set of annal nodes sharing one temporary directory.
export class Group {
  constructor(dir, nodes) {
    this.dir = dir;
    this.nodes = nodes;
  }

  get endpoints() {
    return this.nodes.map((n) => n.endpoint);
  }

  connectionString(scheme, query = "") {
    const q = ["tls=false", query].filter(Boolean).join("&");
    return `${scheme}://${this.endpoints.join(",")}?${q}`;
  }

  // secureConnectionString is for a secure group: userinfo
  // ("admin:changeit", or "" for none) and TLS trusting the group's CA.
  secureConnectionString(scheme, userinfo = "", query = "") {
    const q = ["tls=true", `tlsCAFile=${this.nodes[0].certs.caFile}`, query].filter(Boolean).join("&");
    return `${scheme}://${userinfo ? `${userinfo}@` : ""}${this.endpoints.join(",")}?${q}`;
  }

  // leader waits until exactly one of the running, unfrozen nodes (minus
  // those excluded) reports Leader in its log, with at least `followers`
  // Followers beside it, and every one of them agrees in its gossip
  // (GET /gossip): one alive Leader, at that node's endpoint, and the
  // Followers too. Gossip lags the logs by up to a round, and clients pick
  // their node from gossip, so a test starts only once both agree.
  async leader({ exclude = [], timeoutMs = LEADER_TIMEOUT_MS, followers = 0 } = {}) {
    let last = "";
    try {
      return await waitFor(`a leader among ${this.nodes.filter((n) => !exclude.includes(n)).map((n) => n.name).join(", ")}`, timeoutMs, async () => {
        const candidates = this.nodes.filter((n) => n.running && !n.frozen && !exclude.includes(n));
        const leaders = candidates.filter((n) => n.lastState() === "Leader");
        const replicas = candidates.filter((n) => n.lastState() === "Follower");
        if (leaders.length !== 1 || replicas.length < followers) {
          last = `logs: ${candidates.map((n) => `${n.name} ${n.lastState()}`).join(", ")}`;
          return null;
        }
        for (const n of candidates) {
          const view = await gossipView(n);
          const alive = view.filter((m) => m.isAlive);
          const viewLeaders = alive.filter((m) => m.state === "Leader");
          const viewFollowers = alive.filter((m) => m.state === "Follower");
          if (viewLeaders.length !== 1 || viewLeaders[0].httpEndPointPort !== leaders[0].nodePort || viewFollowers.length < followers) {
            last = `gossip of ${n.name}: ${alive.map((m) => `${m.httpEndPointPort} ${m.state}`).join(", ")}`;
            return null;
          }
        }
        return leaders[0];
      });
    } catch (err) {
      err.message += `; last seen: ${last}`;
      throw err;
    }
  }

  describeStates() {
    return this.nodes
      .map((n) => `${n.name} ${n.endpoint}: ${n.running ? (n.frozen ? "frozen" : "running") : `exited ${JSON.stringify(n.exitInfo)}`}, last state ${n.lastState()}`)
      .join("\n");
  }

  dumpLogs(header) {
    const parts = [`===== ${header}: annal node logs (${this.dir}) =====`, this.describeStates()];
    for (const n of this.nodes) {
      parts.push(`----- ${n.name} ${n.endpoint} (${n.logPath}) -----`, n.logTail(150));
    }
    process.stderr.write(parts.join("\n") + "\n");
  }

  async close() {
    await Promise.allSettled(this.nodes.map((n) => n.stop()));
    fs.rmSync(this.dir, { recursive: true, force: true });
    tempDirs.delete(this.dir);
  }
}

async function makeGroup(size, { secure = false } = {}) {
  annalBinary();
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "annal-node-clients-"));
  tempDirs.add(dir);
  const ports = [];
  for (let i = 0; i < size; i++) ports.push({ node: await freePort(), repl: await freePort() });
  let certs = null;
  if (secure) {
    try {
      certs = makeCertificates(dir, ports.map((_, i) => `n${i + 1}`));
    } catch (err) {
      fs.rmSync(dir, { recursive: true, force: true });
      tempDirs.delete(dir);
      throw err;
    }
  }
  const nodes = ports.map((p, i) =>
    new AnnalNode({
      name: `n${i + 1}`,
      nodePort: p.node,
      replPort: p.repl,
      dir,
      clusterSize: size,
      seeds: ports.filter((_, j) => j !== i).map((o) => `127.0.0.1:${o.node}`),
      certs: certs?.[`n${i + 1}`] ?? null,
    }),
  );
  const group = new Group(dir, nodes);
  try {
    for (const n of nodes) n.start();
    await Promise.all(nodes.map((n) => n.waitLive()));
    await group.leader({ followers: size - 1 });
  } catch (err) {
    group.dumpLogs("cluster did not start");
    await group.close();
    throw err;
  }
  return group;
}

export const startSingleNode = () => makeGroup(1);
export const startCluster = () => makeGroup(3);
// startSecureCluster starts three nodes without --insecure: TLS with
// certificates from a CA made for the group, and authentication.
export const startSecureCluster = () => makeGroup(3, { secure: true });

// scenario runs a test body and, when it fails, prints the nodes' logs
// beside the failure.
export async function scenario(t, group, body) {
  try {
    return await body();
  } catch (err) {
    group?.dumpLogs(`FAILED: ${t.fullName ?? t.name}`);
    throw err;
  }
}
