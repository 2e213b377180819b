// Drives the admin UI in Debian's Chromium against a real three-node
// cluster: the cluster page lists three members with one Leader, the
// stream browser shows an event appended through the client API, and a
// screenshot is kept in artifacts/admin-ui.png.
//
//   ANNAL_BIN=/path/to/annal node admin-ui.test.js

import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { chromium } from "playwright-core";
import { EventStoreDBClient, jsonEvent } from "@eventstore/db-client";
import { startCluster, waitFor, cleanupNow } from "./cluster.js";

const here = path.dirname(fileURLToPath(import.meta.url));
const ARTIFACTS = process.env.ARTIFACTS_DIR ?? path.join(here, "..", "artifacts");
const CHROMIUM = process.env.CHROMIUM ?? "/usr/bin/chromium";
const STEP_MS = 15_000;
const TOTAL_MS = 120_000;

function check(cond, message) {
  if (!cond) throw new Error(message);
}

async function main() {
  const bin = process.env.ANNAL_BIN;
  check(bin && fs.existsSync(bin), `ANNAL_BIN=${bin ?? ""} is not a file; build annal (go build -o /tmp/annal ./cmd/annal) and set ANNAL_BIN`);
  const cluster = await startCluster(bin);
  let browser, client;
  try {
    console.log(`cluster up in ${cluster.dir}; leader ${cluster.leader}`);
    client = EventStoreDBClient.connectionString(`esdb://${cluster.nodes.map((n) => n.endpoint).join(",")}?tls=false`);
    const stream = `ui-test-${Date.now()}`;
    const payload = { greeting: "hello from the UI test", items: [1, 2, 3], nested: { ok: true } };
    await client.appendToStream(stream, [jsonEvent({ type: "Greeted", data: payload, metadata: { source: "ui-tests" } })]);
    console.log(`appended to ${stream}`);

    browser = await chromium.launch({
      executablePath: CHROMIUM,
      headless: true,
      args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"],
      timeout: STEP_MS,
    });
    const page = await browser.newPage({ viewport: { width: 1400, height: 900 } });
    page.setDefaultTimeout(STEP_MS);
    const pageErrors = [];
    page.on("pageerror", (err) => pageErrors.push(err.message));
    page.on("console", (m) => m.type() === "error" && pageErrors.push(`${m.text()} (${m.location().url})`));
    page.on("response", (r) => r.status() >= 400 && pageErrors.push(`HTTP ${r.status()} for ${r.url()}`));

    // Cluster page (the default), served by a follower: any node shows the
    // whole cluster.
    const base = `http://${cluster.nodes.find((n) => n.endpoint !== cluster.leader)?.endpoint ?? cluster.leader}`;
    const res = await page.goto(`${base}/web/`);
    check(res && res.status() === 200, `GET ${base}/web/ answered ${res?.status()}`);
    await waitFor("the cluster page to show 3 alive members with exactly one Leader", STEP_MS, async () => {
      const rows = await page.locator("#members tr").count();
      const alive = await page.locator('#members tr[data-alive="true"]').count();
      const leaders = await page.locator('#members tr[data-state="Leader"][data-alive="true"]').count();
      return rows === 3 && alive === 3 && leaders === 1;
    });
    const leaderText = await page.locator('#members tr[data-state="Leader"] td').nth(3).innerText();
    check(leaderText.includes(cluster.leader), `the Leader row shows ${JSON.stringify(leaderText)}, not the leader ${cluster.leader}`);
    console.log("cluster page: 3 members, one Leader");

    // Stream browser, reached through the UI's own form.
    await page.click('nav a[data-page="streams"]');
    await page.fill("#stream-name", stream);
    await page.click('form button[type="submit"]');
    const card = page.locator("article.event").first();
    await card.waitFor();
    const data = JSON.parse(await card.locator("pre.event-data").innerText());
    check(JSON.stringify(data) === JSON.stringify(payload), `the stream browser shows data ${JSON.stringify(data)}, want ${JSON.stringify(payload)}`);
    const meta = JSON.parse(await card.locator("pre.event-metadata").innerText());
    check(meta.source === "ui-tests", `the stream browser shows metadata ${JSON.stringify(meta)}`);
    check((await card.locator(".type").innerText()) === "Greeted", "the event's type is not shown as Greeted");
    console.log("stream browser: the appended event's JSON is shown");

    fs.mkdirSync(ARTIFACTS, { recursive: true });
    // The screenshot shows the cluster page, the UI's front page.
    await page.click('nav a[data-page="cluster"]');
    await page.locator('#members tr[data-state="Leader"]').waitFor();
    const shot = path.join(ARTIFACTS, "admin-ui.png");
    await page.screenshot({ path: shot, fullPage: true });
    console.log(`screenshot: ${shot}`);

    // Configuration page renders the options.
    await page.click('nav a[data-page="config"]');
    await page.locator('tr[data-option="ClusterSize"]').waitFor();
    const cs = await page.locator('tr[data-option="ClusterSize"] td').nth(1).innerText();
    check(cs.trim() === "3", `the configuration page shows ClusterSize ${JSON.stringify(cs)}, want 3`);
    console.log("configuration page: ClusterSize 3");

    check(pageErrors.length === 0, `the page reported errors: ${pageErrors.join("; ")}`);
  } catch (err) {
    process.stderr.write(`${cluster.logs()}\n`);
    throw err;
  } finally {
    if (browser) await browser.close().catch(() => {});
    if (client) await client.dispose().catch(() => {});
    await cluster.close();
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
    console.log("PASS admin UI");
    process.exit(0);
  },
  (err) => {
    clearTimeout(overall);
    console.error(`FAIL: ${err.stack ?? err}`);
    cleanupNow();
    process.exit(1);
  },
);
