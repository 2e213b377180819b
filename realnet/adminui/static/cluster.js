// The cluster page: the members as this node's GET /gossip shows them,
// refreshed every POLL_MS while the page is open.
import { el, getJSON, fmtNumber } from "./util.js";

const POLL_MS = 1500;

const roles = {
  Leader: "leader",
  Follower: "follower",
  ReadOnlyReplica: "read-only replica",
  PreLeader: "becoming leader",
  PreReplica: "becoming follower",
  CatchingUp: "catching up",
  Clone: "clone",
};

function memberRow(m) {
  const endpoint = `${m.httpEndPointIp}:${m.httpEndPointPort}`;
  const link = el("a", { href: `${location.protocol}//${endpoint}/web/` }, endpoint);
  return el(
    "tr",
    { class: m.isAlive ? "" : "dead", "data-state": m.state, "data-alive": String(m.isAlive) },
    el("td", { class: "state" }, el("span", { class: `badge state-${m.state}` }, m.state)),
    el("td", {}, m.isReadOnlyReplica ? "read-only replica" : roles[m.state] ?? "—"),
    el("td", {}, m.isAlive ? "yes" : "no"),
    el("td", {}, link, el("div", { class: "muted small" }, `replication ${m.internalTcpIp}:${m.internalTcpPort || m.internalSecureTcpPort}`)),
    el("td", { class: "num" }, fmtNumber(m.epochNumber)),
    el("td", { class: "num" }, fmtNumber(m.epochPosition)),
    el("td", { class: "num" }, fmtNumber(m.writerCheckpoint)),
    el("td", { class: "num" }, fmtNumber(m.chaserCheckpoint)),
    el("td", { class: "num" }, fmtNumber(m.lastCommitPosition)),
    el("td", { class: "small" }, el("code", {}, m.instanceId), el("div", { class: "muted" }, m.timeStamp)),
  );
}

export function render(main) {
  const status = el("p", { class: "muted", id: "cluster-status" }, "Reading /gossip…");
  const body = el("tbody", { id: "members" });
  const table = el(
    "table",
    { class: "grid" },
    el(
      "thead",
      {},
      el("tr", {}, ...["State", "Role", "Alive", "Endpoint", "Epoch", "Epoch position", "Writer", "Chaser", "Commit", "Instance / last gossip"].map((h) => el("th", {}, h))),
    ),
    body,
  );
  main.append(el("h1", {}, "Cluster"), status, table);

  let timer = null;
  let stopped = false;
  const ctl = new AbortController();
  async function poll() {
    try {
      const doc = await getJSON("/gossip", { timeoutMs: 3000, signal: ctl.signal });
      if (stopped) return;
      const members = [...(doc.members ?? [])].sort((a, b) => a.httpEndPointPort - b.httpEndPointPort || a.httpEndPointIp.localeCompare(b.httpEndPointIp));
      body.replaceChildren(...members.map(memberRow));
      const alive = members.filter((m) => m.isAlive).length;
      const leaders = members.filter((m) => m.isAlive && m.state === "Leader").length;
      status.className = leaders === 1 ? "ok" : "warn";
      status.textContent = `${members.length} members, ${alive} alive, ${leaders === 1 ? "one leader" : `${leaders} leaders`} · updated ${new Date().toLocaleTimeString()}`;
    } catch (err) {
      if (stopped) return;
      status.className = "error";
      status.textContent = `Cannot read the cluster: ${err.message}`;
    }
    if (!stopped) timer = setTimeout(poll, POLL_MS);
  }
  poll();
  return () => {
    stopped = true;
    ctl.abort();
    clearTimeout(timer);
  };
}
