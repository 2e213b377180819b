// The HTTP caching story of EventStoreDB's docs, in a real browser: a
// browser that read /streams/foo/0 from one database keeps showing that
// event after the database is wiped and a different event 0 is written,
// because event URLs are immutable and cacheable for a year. The stream
// head is revalidated with an ETag that names the database, so it shows
// the new event. With --disable-http-caching nothing is cached and the
// browser shows the new event 0.
//
// Each run: a single insecure node with AtomPub on a fixed free port and
// --db in a temporary directory; one persistent Chromium profile (so its
// HTTP cache outlives the first database); the node is stopped, its
// database deleted, and a fresh node started on the same port.
// Screenshots of the final pages go to artifacts/atompub-cache-*.png.
//
//   ANNAL_BIN=/path/to/annal node atompub-cache.test.js

import crypto from "node:crypto";
import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { chromium } from "playwright-core";
import { cleanupNow, freePort, removeDir, startSingleNode, stopNode, tempDir } from "./cluster.js";

const here = path.dirname(fileURLToPath(import.meta.url));
const ARTIFACTS = process.env.ARTIFACTS_DIR ?? path.join(here, "..", "artifacts");
const CHROMIUM = process.env.CHROMIUM ?? "/usr/bin/chromium";
const STEP_MS = 15_000;
const TOTAL_MS = 150_000;
const ATOM_JSON = "application/vnd.eventstore.atom+json";
const YEAR = "max-age=31536000";

function check(cond, message) {
  if (!cond) throw new Error(message);
}

// append writes one event 0 to foo, as the docs' example does.
async function append(base, type, v) {
  const body = JSON.stringify([{ eventId: crypto.randomUUID(), eventType: type, data: { v } }]);
  const res = await fetch(`${base}/streams/foo`, {
    method: "POST",
    headers: { "Content-Type": "application/vnd.eventstore.events+json", "ES-ExpectedVersion": "-1" },
    body,
    signal: AbortSignal.timeout(STEP_MS),
  });
  check(res.status === 201, `POST ${base}/streams/foo (${type}) answered ${res.status}: ${await res.text()}`);
  const loc = res.headers.get("location");
  check(loc === `${base}/streams/foo/0`, `POST ${base}/streams/foo (${type}) gave Location ${loc}, want ${base}/streams/foo/0`);
}

// streamsRequests is the node's count of /streams requests by status, from
// its /metrics (the node counts every HTTP request it answers).
async function streamsRequests(base) {
  const res = await fetch(`${base}/metrics`, { signal: AbortSignal.timeout(STEP_MS) });
  check(res.ok, `GET ${base}/metrics answered ${res.status}`);
  const counts = {};
  for (const line of (await res.text()).split("\n")) {
    const m = /^annal_http_requests_total\{(.*)\} (\S+)$/.exec(line);
    if (!m || !/route="streams"/.test(m[1])) continue;
    const code = /code="(\d+)"/.exec(m[1])?.[1] ?? "?";
    counts[code] = (counts[code] ?? 0) + Number(m[2]);
  }
  return counts;
}

const total = (c) => Object.values(c).reduce((a, b) => a + b, 0);

// watchNetwork records, through the DevTools protocol, how Chromium got
// each response: from the network or from its HTTP cache.
async function watchNetwork(context, page) {
  const cdp = await context.newCDPSession(page);
  await cdp.send("Network.enable");
  const seen = [];
  const served = new Set();
  cdp.on("Network.requestServedFromCache", (e) => served.add(e.requestId));
  cdp.on("Network.responseReceived", (e) =>
    seen.push({
      id: e.requestId,
      url: e.response.url,
      status: e.response.status,
      fromCache: Boolean(e.response.fromDiskCache || e.response.fromMemoryCache),
      cacheControl: e.response.headers["Cache-Control"] ?? e.response.headers["cache-control"],
    }),
  );
  return {
    // last is the newest response for url, with whether the cache served it.
    last(url) {
      const r = seen.filter((x) => x.url === url).at(-1);
      return r && { ...r, fromCache: r.fromCache || served.has(r.id) };
    },
  };
}

// headFromPage reads the stream head as a script on the page would: through
// the browser's HTTP cache, which revalidates the head's ETag.
async function headFromPage(page) {
  return page.evaluate(async (accept) => {
    const res = await fetch("/streams/foo?embed=body", { headers: { Accept: accept } });
    return { status: res.status, cacheControl: res.headers.get("cache-control"), etag: res.headers.get("etag"), body: await res.text() };
  }, ATOM_JSON);
}

function headEvent(head, what) {
  check(head.status === 200, `${what}: the head answered ${head.status} in the page`);
  const feed = JSON.parse(head.body);
  check(feed.entries?.length === 1, `${what}: the head lists ${feed.entries?.length} entries, want 1: ${head.body}`);
  return { type: feed.entries[0].summary, data: feed.entries[0].data };
}

async function runStory(browser, { caching, nodePort, replPort, dir }) {
  const label = caching ? "caching on" : "--disable-http-caching";
  const extra = ["--enable-atom-pub-over-http", ...(caching ? [] : ["--disable-http-caching"])];
  const base = `http://127.0.0.1:${nodePort}`;
  const eventURL = `${base}/streams/foo/0`;
  const headURL = `${base}/streams/foo?embed=body`;

  // (a) the first database, with event 0 "old".
  const dbA = tempDir("annal-ui-db-a-");
  let node = await startSingleNode(ANNAL_BIN, { nodePort, replPort, dir, name: `${caching ? "cache" : "nocache"}-a`, args: [...extra, "--db", dbA] });
  const profile = tempDir("annal-ui-profile-");
  const context = await browser(profile);
  try {
    await append(base, "First", "old");

    // (b) the browser reads event 0 and the head.
    let page = await context.newPage();
    page.setDefaultTimeout(STEP_MS);
    let net = await watchNetwork(context, page);
    let res = await page.goto(eventURL);
    check(res && res.status() === 200, `[${label}] first GET ${eventURL} answered ${res?.status()}`);
    const cc = res.headers()["cache-control"] ?? "";
    if (caching) check(cc.startsWith(YEAR), `[${label}] event 0 says Cache-Control ${JSON.stringify(cc)}, want ${YEAR} (a year)`);
    else check(/no-cache/.test(cc) && /max-age=0/.test(cc), `[${label}] event 0 says Cache-Control ${JSON.stringify(cc)}, want max-age=0, no-cache`);
    check((await res.text()).includes("old"), `[${label}] event 0's body does not show "old"`);
    check((await page.content()).includes("old"), `[${label}] the page does not show "old"`);
    const before = headEvent(await headFromPage(page), `[${label}] first database`);
    check(before.type === "First", `[${label}] the first head shows type ${before.type}`);
    console.log(`[${label}] b: event 0 shows "old", Cache-Control ${cc}`);
    await page.close();

    // (c) wipe the database, and write a different event 0 on the same port.
    await stopNode(node);
    removeDir(dbA);
    check(!fs.existsSync(dbA), `[${label}] ${dbA} is still there`);
    const dbB = tempDir("annal-ui-db-b-");
    node = await startSingleNode(ANNAL_BIN, { nodePort, replPort, dir, name: `${caching ? "cache" : "nocache"}-b`, args: [...extra, "--db", dbB] });
    await append(base, "Second", "new");
    const counted = await streamsRequests(base);

    // (d) the same URL in the same browser profile.
    page = await context.newPage();
    page.setDefaultTimeout(STEP_MS);
    net = await watchNetwork(context, page);
    res = await page.goto(eventURL);
    check(res && res.status() === 200, `[${label}] second GET ${eventURL} answered ${res?.status()}`);
    const shown = await page.content();
    const after = await streamsRequests(base);
    const how = net.last(eventURL);
    check(how, `[${label}] DevTools saw no response for ${eventURL}`);
    const reached = total(after) - total(counted);
    if (caching) {
      check(/\bold\b/.test(shown) && !/\bnew\b/.test(shown),
        `[${label}] after the wipe the browser shows ${JSON.stringify(shown.slice(0, 400))}, want the cached "old" event`);
      check(how.fromCache, `[${label}] DevTools says ${eventURL} came from the network (status ${how.status}), want the HTTP cache`);
      check(reached === 0, `[${label}] the new node answered ${reached} /streams requests for the cached page (${JSON.stringify(counted)} -> ${JSON.stringify(after)}), want 0`);
    } else {
      check(/\bnew\b/.test(shown) && !/\bold\b/.test(shown), `[${label}] after the wipe the browser shows ${JSON.stringify(shown.slice(0, 400))}, want the new event`);
      check(!how.fromCache, `[${label}] DevTools says ${eventURL} came from the HTTP cache, want the network`);
      check(reached === 1 && (after["200"] ?? 0) - (counted["200"] ?? 0) === 1,
        `[${label}] the new node answered ${JSON.stringify(counted)} -> ${JSON.stringify(after)} /streams requests, want one more 200`);
    }
    console.log(`[${label}] d: event 0 ${how.fromCache ? "from the browser's cache" : "from the node"}; the new node answered ${reached} request(s) for it`);

    // The head is revalidated: the old ETag names the old database, so the
    // new node answers 200 with its own event, never a stale 304.
    const head = await headFromPage(page);
    const now = headEvent(head, `[${label}] new database`);
    const viaNet = net.last(headURL);
    const final = await streamsRequests(base);
    check(now.type === "Second" && /new/.test(now.data ?? ""), `[${label}] the head shows ${JSON.stringify(now)}, want the new event (Second, "new")`);
    check(viaNet && viaNet.status === 200, `[${label}] the head's network response was ${JSON.stringify(viaNet)}, want 200`);
    check((final["304"] ?? 0) === 0, `[${label}] the new node answered 304 to the head: ${JSON.stringify(final)}`);
    check((final["200"] ?? 0) - (after["200"] ?? 0) === 1, `[${label}] the head did not reach the node as a 200: ${JSON.stringify(after)} -> ${JSON.stringify(final)}`);
    console.log(`[${label}] d: the head shows ${now.type} (${head.cacheControl}, ETag ${head.etag})`);

    fs.mkdirSync(ARTIFACTS, { recursive: true });
    const shot = path.join(ARTIFACTS, `atompub-cache-${caching ? "enabled" : "disabled"}.png`);
    await page.screenshot({ path: shot, fullPage: true });
    console.log(`[${label}] screenshot: ${shot}`);
    await page.close();
  } catch (err) {
    process.stderr.write(`${node.logTail()}\n`);
    throw err;
  } finally {
    await context.close().catch(() => {});
    await stopNode(node);
    removeDir(profile);
  }
}

const ANNAL_BIN = process.env.ANNAL_BIN;

async function main() {
  check(ANNAL_BIN && fs.existsSync(ANNAL_BIN), `ANNAL_BIN=${ANNAL_BIN ?? ""} is not a file; build annal (go build -o /tmp/annal ./cmd/annal) and set ANNAL_BIN`);
  const dir = tempDir();
  // A persistent profile keeps Chromium's HTTP cache on disk, as a
  // developer's browser does.
  const browser = (profile) =>
    chromium.launchPersistentContext(profile, {
      executablePath: CHROMIUM,
      headless: true,
      args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"],
      timeout: STEP_MS,
      viewport: { width: 1000, height: 600 },
    });
  try {
    for (const caching of [true, false]) {
      // One fixed port per story: the second node takes the first's address.
      await runStory(browser, { caching, nodePort: await freePort(), replPort: await freePort(), dir });
    }
  } finally {
    removeDir(dir);
  }
}

const overall = setTimeout(() => {
  console.error(`FAIL: the test did not finish within ${TOTAL_MS} ms`);
  cleanupNow();
  process.exit(1);
}, TOTAL_MS);
main().then(
  () => {
    clearTimeout(overall);
    console.log("PASS AtomPub HTTP caching");
    process.exit(0);
  },
  (err) => {
    clearTimeout(overall);
    console.error(`FAIL: ${err.stack ?? err}`);
    cleanupNow();
    process.exit(1);
  },
);
