// An object's or link's page: its state, where it sits (parents, children, links), its
// properties, its operations with a Run button each, and its latest jobs.

import { entityPath, get, seg } from "./api.js";
import { byId, fill, h } from "./dom.js";
import { jobTable } from "./jobs_table.js";
import { entityName, state } from "./ui.js";

const RECENT = 10;

function linkTo(kind, id) {
  return h("a", { href: `#/${kind}/${seg(id)}` }, entityName(kind, id));
}

function list(items, empty) {
  return items.length ? h("ul", {}, items.map((item) => h("li", {}, item))) : h("p", { className: "muted" }, empty);
}

function facts(kind, doc) {
  const rows = [
    ["ID", doc.id],
    ["Kind", kind],
    ["State", String(doc.state_id ?? "—")],
    ["Class", doc.class_id ?? "—"],
  ];
  if (kind === "link") {
    rows.push(["From", state.objects.has(doc.source) ? linkTo("object", doc.source) : doc.source_name || doc.source]);
    rows.push(["To", state.objects.has(doc.target) ? linkTo("object", doc.target) : doc.target_name || doc.target]);
  }
  return h("dl", { className: "kv" }, rows.flatMap(([key, value]) => [h("dt", {}, key), h("dd", {}, value)]));
}

function placement(doc) {
  const parents = (doc.parent_id || []).filter((p) => state.objects.has(p)).map((p) => linkTo("object", p));
  const kids = (doc.child_ids || []).map((c) => linkTo("object", c));
  const links = [...state.links.values()].filter((l) => l.source === doc.id || l.target === doc.id).map((l) => linkTo("link", l.id));
  return [
    h("h2", {}, "Parents"),
    list(parents, "None you may see."),
    h("h2", {}, "Children"),
    list(kids, "None."),
    h("h2", {}, "Links"),
    list(links, "None you may see."),
  ];
}

function properties(doc) {
  const props = Array.isArray(doc.properties) ? doc.properties : [];
  if (!props.length) return h("p", { className: "muted" }, "No properties.");
  return h(
    "div",
    { className: "table-wrap" },
    h("table", {}, h("thead", {}, h("tr", {}, h("th", {}, "Name"), h("th", {}, "Value"), h("th", {}, "Type"))),
      h("tbody", {}, props.map((p) => h("tr", {}, h("td", {}, p.name), h("td", {}, String(p.value)), h("td", {}, String(p.type_id)))))),
  );
}

function operations(kind, id, ops) {
  if (!ops.length) return h("p", { className: "muted" }, "No operations.");
  return h(
    "ul",
    { className: "operations" },
    ops.map((op) =>
      h(
        "li",
        {},
        h("a", { className: "button", href: `#/run/${kind}/${seg(id)}/${seg(op.id)}` }, `Run “${op.name}”`),
        " ",
        h("a", { className: "button", href: `#/schedules/new/${kind}/${seg(id)}/${seg(op.id)}`, attrs: { "aria-label": `Schedule “${op.name}”` } }, "Schedule"),
        kind === "object" ? [" ", h("a", { className: "button", href: `#/batches/new/${kind}/${seg(id)}/${seg(op.id)}`, attrs: { "aria-label": `Run “${op.name}” on many` } }, "Run on many")] : null,
        " ",
        h("span", { className: "muted" }, op.description || ""),
      ),
    ),
  );
}

export async function entityPage(kind, id) {
  const base = entityPath(kind, id);
  const main = byId("main");
  fill(main, h("p", { className: "muted" }, "Loading…"));
  const [doc, ops] = await Promise.all([get(base), get(`${base}/operations`)]);
  document.title = `${doc.name || id} · opsjobs console`;
  const recent = await get(`${base}/jobs?order=desc&limit=${RECENT}`).catch(() => []);
  fill(
    main,
    h("h1", {}, doc.name || id),
    facts(kind, doc),
    h("h2", {}, "Operations"),
    operations(kind, id, ops),
    h("h2", {}, "Latest jobs"),
    jobTable(recent, { owner: false }),
    h("p", {}, h("a", { href: `#/history/${kind}/${seg(id)}` }, "Whole history, filters and chart")),
    h("h2", {}, "Properties"),
    properties(doc),
    kind === "object" ? placement(doc) : null,
  );
  main.focus({ preventScroll: true });
}
