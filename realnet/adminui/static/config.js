// The configuration page: the node's effective options and where each
// came from (GET /web/api/config; secrets arrive redacted).
import { el, getJSON } from "./util.js";

export function render(main) {
  const filter = el("input", { type: "search", id: "config-filter", placeholder: "filter by name or value", autocomplete: "off" });
  const changedOnly = el("input", { type: "checkbox", id: "config-changed" });
  const status = el("p", { class: "muted" }, "Reading the configuration…");
  const body = el("div", { id: "config" });
  main.append(
    el("h1", {}, "Configuration"),
    el("div", { class: "bar" }, filter, el("label", {}, changedOnly, " only values not from the defaults")),
    status,
    body,
  );
  let doc = null;
  function show() {
    const needle = filter.value.trim().toLowerCase();
    const sections = [];
    for (const g of doc.groups) {
      const rows = g.options
        .filter((o) => !changedOnly.checked || o.source !== "default")
        .filter((o) => !needle || o.name.toLowerCase().includes(needle) || o.value.toLowerCase().includes(needle))
        .map((o) =>
          el(
            "tr",
            { class: o.source === "default" ? "" : "changed", "data-option": o.name },
            el("td", {}, el("code", { title: o.help || "" }, o.name)),
            el("td", {}, el("code", {}, o.value === "" ? "(empty)" : o.value)),
            el("td", {}, el("span", { class: `badge source` }, o.source)),
            el("td", { class: "muted" }, el("code", {}, o.default === "" ? "(empty)" : o.default)),
          ),
        );
      if (rows.length) {
        sections.push(
          el("h2", {}, g.title),
          el("table", { class: "grid" }, el("thead", {}, el("tr", {}, ...["Option", "Value", "Source", "Default"].map((h) => el("th", {}, h)))), el("tbody", {}, rows)),
        );
      }
    }
    body.replaceChildren(...(sections.length ? sections : [el("p", { class: "muted" }, "No option matches.")]));
  }
  filter.addEventListener("input", () => doc && show());
  changedOnly.addEventListener("change", () => doc && show());
  let stopped = false;
  getJSON("/web/api/config")
    .then((d) => {
      if (stopped) return;
      doc = d;
      const n = d.groups.reduce((a, g) => a + g.options.length, 0);
      const changed = d.groups.reduce((a, g) => a + g.options.filter((o) => o.source !== "default").length, 0);
      status.textContent = `${n} options, ${changed} not from the defaults. Secrets are shown as ****.`;
      show();
    })
    .catch((err) => {
      if (stopped) return;
      status.className = "error";
      status.textContent = `Cannot read the configuration: ${err.message}`;
    });
  return () => {
    stopped = true;
  };
}
