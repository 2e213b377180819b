// Small helpers shared by the pages: element building without innerHTML
// (nothing from the node is ever parsed as markup) and JSON fetching.

export function el(tag, attrs = {}, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === null || v === false) continue;
    if (k === "class") e.className = v;
    else if (k.startsWith("on")) e.addEventListener(k.slice(2), v);
    else e.setAttribute(k, v === true ? "" : String(v));
  }
  for (const c of children.flat()) {
    if (c === undefined || c === null || c === false) continue;
    e.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return e;
}

// HTTPError carries the status and the node's explanation.
export class HTTPError extends Error {
  constructor(status, message) {
    super(message);
    this.status = status;
  }
}

// getJSON fetches a same-origin JSON document within timeoutMs.
export async function getJSON(path, { timeoutMs = 5000, signal } = {}) {
  const ctl = new AbortController();
  const timer = setTimeout(() => ctl.abort(), timeoutMs);
  if (signal) signal.addEventListener("abort", () => ctl.abort());
  try {
    const res = await fetch(path, { signal: ctl.signal, headers: { Accept: "application/json" }, cache: "no-store" });
    const text = await res.text();
    if (!res.ok) {
      let msg = text.trim();
      try {
        msg = JSON.parse(text).error ?? msg;
      } catch {}
      throw new HTTPError(res.status, `${res.status} ${res.statusText}: ${msg}`);
    }
    return JSON.parse(text);
  } catch (err) {
    if (err.name === "AbortError") throw new Error(`no answer from ${path} within ${timeoutMs} ms`);
    throw err;
  } finally {
    clearTimeout(timer);
  }
}

export function fmtNumber(n) {
  return typeof n === "number" ? n.toLocaleString("en-US") : String(n ?? "");
}

export function pretty(value) {
  return typeof value === "string" ? value : JSON.stringify(value, null, 2);
}
