// The streams page: one stream's events, newest first, a page at a time
// (GET /web/api/streams/{stream}?from=N&count=K reads backwards). The
// stream, the page's start and its size live in the URL's hash, so a page
// can be reloaded, linked to and stepped through with the browser's Back.
import { el, getJSON, pretty, fmtNumber } from "./util.js";

const SIZES = [20, 50, 100];

function go(stream, from, count) {
  const q = new URLSearchParams({ stream });
  if (from !== null && from !== undefined) q.set("from", String(from));
  if (count !== SIZES[0]) q.set("count", String(count));
  location.hash = `#/streams?${q}`;
}

function payloadBlock(label, value, encoding, cls) {
  const empty = encoding === "text" && value === "";
  return el(
    "div",
    { class: "payload" },
    el("div", { class: "label" }, label, encoding !== "json" && !empty ? el("span", { class: "muted" }, ` (${encoding})`) : null),
    empty ? el("div", { class: "muted small" }, "none") : el("pre", { class: cls }, pretty(value)),
  );
}

function eventCard(e) {
  return el(
    "article",
    { class: "event", "data-event-number": String(e.eventNumber) },
    el(
      "header",
      {},
      el("span", { class: "revision" }, e.tombstone ? "tombstone" : `#${e.eventNumber}`),
      el("span", { class: "type" }, e.eventType),
      el("span", { class: "muted small" }, `${e.created} · position ${fmtNumber(e.position)} · id ${e.eventId}`),
    ),
    payloadBlock("Data", e.data, e.dataEncoding, "event-data"),
    payloadBlock("Metadata", e.metadata, e.metadataEncoding, "event-metadata"),
  );
}

export function render(main, params) {
  const stream = params.get("stream") ?? "";
  const from = params.has("from") ? Number(params.get("from")) : null;
  const count = SIZES.includes(Number(params.get("count"))) ? Number(params.get("count")) : SIZES[0];

  const input = el("input", { type: "text", id: "stream-name", name: "stream", placeholder: "stream name", value: stream, autocomplete: "off", spellcheck: "false", required: true });
  const size = el("select", { id: "page-size", "aria-label": "events per page" }, ...SIZES.map((n) => el("option", { value: n, selected: n === count }, `${n} per page`)));
  const form = el(
    "form",
    {
      class: "bar",
      onsubmit: (ev) => {
        ev.preventDefault();
        const name = input.value.trim();
        if (name) go(name, null, Number(size.value));
      },
    },
    input,
    size,
    el("button", { type: "submit" }, "Read"),
  );
  const status = el("p", { class: "muted", id: "stream-status" });
  const list = el("div", { id: "events" });
  const pager = el("div", { class: "bar pager" });
  main.append(el("h1", {}, "Streams"), form, status, list, pager);
  if (!stream) {
    status.textContent = "Enter a stream's name to read its newest events.";
    input.focus();
    return null;
  }

  let stopped = false;
  const ctl = new AbortController();
  (async () => {
    const q = new URLSearchParams({ count: String(count) });
    if (from !== null && Number.isFinite(from)) q.set("from", String(from));
    status.textContent = `Reading ${stream}…`;
    try {
      const page = await getJSON(`/web/api/streams/${encodeURIComponent(stream)}?${q}`, { signal: ctl.signal });
      if (stopped) return;
      const n = page.events.length;
      status.className = "";
      status.textContent = n
        ? `${stream}: events ${page.events[0].eventNumber} to ${page.events[n - 1].eventNumber} (newest first); the newest revision is ${page.lastRevision}.`
        : `${stream}: no events here; the newest revision is ${page.lastRevision}.`;
      list.replaceChildren(...page.events.map(eventCard));
      const newer = from !== null && from < page.lastRevision;
      pager.replaceChildren(
        el("button", { type: "button", disabled: !newer, onclick: () => go(stream, null, count) }, "Newest"),
        el("button", { type: "button", disabled: !newer, onclick: () => go(stream, Math.min(page.lastRevision, from + count), count) }, "Newer"),
        el("button", { type: "button", id: "older", disabled: page.next === undefined || page.next === null, onclick: () => go(stream, page.next, count) }, "Older"),
      );
    } catch (err) {
      if (stopped) return;
      status.className = "error";
      status.textContent =
        err.status === 404 ? `No stream named ${stream}.` : err.status === 410 ? `The stream ${stream} has been deleted.` : `Cannot read ${stream}: ${err.message}`;
    }
  })();
  return () => {
    stopped = true;
    ctl.abort();
  };
}
