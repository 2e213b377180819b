// The admin UI's entry point: a hash router over three pages. Each page
// module exports render(main, params) and may return a stop function,
// called when the user leaves the page (the cluster page stops polling).
import { el, getJSON } from "./util.js";
import * as cluster from "./cluster.js";
import * as streams from "./streams.js";
import * as config from "./config.js";

const pages = { cluster, streams, config };
let stop = null;

function route() {
  const [name, query = ""] = location.hash.replace(/^#\/?/, "").split("?");
  const page = pages[name] ? name : "cluster";
  for (const a of document.querySelectorAll("nav a")) {
    a.classList.toggle("active", a.dataset.page === page);
  }
  if (stop) stop();
  stop = null;
  const main = document.getElementById("main");
  main.replaceChildren();
  main.dataset.page = page;
  stop = pages[page].render(main, new URLSearchParams(query)) || null;
}

async function nodeInfo() {
  const span = document.getElementById("node-info");
  try {
    const info = await getJSON("/info");
    span.replaceChildren(el("span", {}, `${location.host} · ${info.state} · ${info.annalVersion || `EventStoreDB ${info.esVersion}`}`));
  } catch {
    span.textContent = location.host;
  }
}

window.addEventListener("hashchange", route);
route();
nodeInfo();
