// Job history: of one object or link (GET .../jobs, with a chart of its jobs over time by
// status), or of everything the caller may see (POST /jobs with every visible object, then
// every visible link, merged newest first). Filters and paging are the API's.

import { entityPath, get, post, seg } from "./api.js";
import { byId, fill, h } from "./dom.js";
import { jobsChart } from "./chart.js";
import { STATUSES, fromLocalInput, toLocalInput } from "./format.js";
import { jobTable } from "./jobs_table.js";
import { entityName, state } from "./ui.js";

const PAGE = 25;
const CHART_JOBS = 500; // the latest this many jobs in the filter are charted
const FILTERS = ["from", "to", "status", "operation_id", "user_id"];

function filtersOf(params) {
  const filters = {};
  for (const name of FILTERS) if (params.get(name)) filters[name] = params.get(name);
  for (const name of ["from", "to"]) if (filters[name]) filters[name] = Number(filters[name]);
  return filters;
}

function hashFor(kind, id, filters, skip, cursor = null) {
  const search = new URLSearchParams();
  for (const [k, v] of Object.entries(filters)) if (v !== undefined && v !== "" && !Number.isNaN(v)) search.set(k, String(v));
  if (skip) search.set("skip", String(skip));
  if (cursor) for (const [k, v] of Object.entries(cursor)) search.set(k, String(v));
  const base = kind ? `#/history/${kind}/${seg(id)}` : "#/jobs";
  const text = search.toString();
  return text ? `${base}?${text}` : base;
}

// Where the list of every job goes on from: the last shown job's time (`at`), and how many
// of the objects' (`os`) and of the links' (`ls`) jobs at that very time were shown already.
function cursorOf(params) {
  const at = Number(params.get("at"));
  const os = Number(params.get("os") || 0);
  const ls = Number(params.get("ls") || 0);
  if (!params.get("at") || ![at, os, ls].every((n) => Number.isSafeInteger(n) && n >= 0)) return null;
  return { at, os, ls };
}

function nextCursor(jobs, cursor) {
  const at = jobs[jobs.length - 1].timestamp;
  const same = cursor && cursor.at === at ? cursor : { os: 0, ls: 0 };
  const last = jobs.filter((job) => job.timestamp === at);
  const links = last.filter((job) => job.owner_type === 2).length;
  return { at, os: same.os + last.length - links, ls: same.ls + links };
}

function select(id, label, options, value) {
  return h("div", {}, h("label", { htmlFor: id }, label), h("select", { id, name: id }, h("option", { value: "" }, "any"), options.map(([v, t]) => h("option", { value: v, selected: v === value }, t))));
}

function filterForm(kind, id, filters, operations) {
  const from = h("input", { type: "datetime-local", id: "f-from", value: toLocalInput(filters.from) });
  const to = h("input", { type: "datetime-local", id: "f-to", value: toLocalInput(filters.to) });
  const operation = operations
    ? select("f-operation", "Operation", operations.map((o) => [o.id, o.name]), filters.operation_id)
    : h("div", {}, h("label", { htmlFor: "f-operation" }, "Operation ID"), h("input", { id: "f-operation", value: filters.operation_id || "", size: 26, autocomplete: "off" }));
  const users = [...state.users.entries()].sort((a, b) => String(a[1]).localeCompare(String(b[1])));
  const form = h(
    "form",
    { className: "filters", id: "filters" },
    h("div", {}, h("label", { htmlFor: "f-from" }, "From"), from),
    h("div", {}, h("label", { htmlFor: "f-to" }, "To"), to),
    select("f-status", "Status", STATUSES.map((st) => [st, st]), filters.status),
    operation,
    select("f-user", "User", users, filters.user_id),
    h("div", {}, h("button", { type: "submit", className: "primary" }, "Apply")),
  );
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const value = (name) => form.querySelector(`#${name}`).value;
    const next = {
      from: fromLocalInput(from.value) ?? undefined,
      to: fromLocalInput(to.value) === null ? undefined : fromLocalInput(to.value) + 59_999,
      status: value("f-status"),
      operation_id: value("f-operation").trim(),
      user_id: value("f-user"),
    };
    location.hash = hashFor(kind, id, next, 0);
  });
  return form;
}

// Every visible entity's jobs, newest first: one list per kind, merged. The API pages each
// list; taking skip+limit of each and merging gives the right page of the whole, but reads
// and sends skip+limit jobs of each kind. From a cursor (the "Older" button's), each list
// starts where the last page ended: `to` that job's time, leaving out those at that time
// already shown, so a page deep in the list costs what the first does.
export async function everything(filters, skip, limit, cursor = null) {
  const kinds = [["objects", state.objects, "os"], ["links", state.links, "ls"]].filter(([, map]) => map.size);
  const bodyFor = (key) => {
    if (!cursor) return { ...filters, order: "desc", limit: skip + limit };
    const to = typeof filters.to === "number" ? Math.min(filters.to, cursor.at) : cursor.at;
    return { ...filters, to, order: "desc", skip: cursor[key], limit };
  };
  const lists = await Promise.all(kinds.map(([name, map, key]) => post("/jobs", { ...bodyFor(key), [name]: [...map.keys()] })));
  const merged = lists.flat().sort((a, b) => b.timestamp - a.timestamp || (a.id < b.id ? 1 : -1));
  return cursor ? merged.slice(0, limit) : merged.slice(skip, skip + limit);
}

function pager(kind, id, filters, skip, count, cursor = null) {
  const prev = h("a", { className: "button", href: hashFor(kind, id, filters, Math.max(0, skip - PAGE)), id: "prev" }, "Newer");
  const next = h("a", { className: "button", href: hashFor(kind, id, filters, skip + PAGE, cursor), id: "next" }, "Older");
  return h("nav", { className: "pager", attrs: { "aria-label": "Pages" } }, skip > 0 ? prev : null, h("span", { className: "muted" }, count ? `${skip + 1}–${skip + count}` : "none"), count === PAGE ? next : null);
}

export async function historyPage(kind, id, params) {
  const main = byId("main");
  fill(main, h("p", { className: "muted" }, "Loading…"));
  const filters = filtersOf(params);
  const skip = Math.max(0, Number(params.get("skip")) || 0);
  if (!kind) {
    document.title = "Jobs · opsjobs console";
    const cursor = cursorOf(params);
    const jobs = await everything(filters, skip, PAGE, cursor);
    const next = jobs.length ? nextCursor(jobs, cursor) : null;
    fill(main, h("h1", {}, "Jobs"), h("p", { className: "muted" }, "Every job of the objects and links you may see, newest first."), filterForm(null, null, filters, null), jobTable(jobs), pager(null, null, filters, skip, jobs.length, next));
    main.focus({ preventScroll: true });
    return;
  }
  const base = entityPath(kind, id);
  const q = (extra) => new URLSearchParams({ ...filters, order: "desc", ...extra }).toString();
  const [operations, jobs, latest] = await Promise.all([
    get(`${base}/operations`).catch(() => []),
    get(`${base}/jobs?${q({ limit: PAGE, skip })}`),
    get(`${base}/jobs?${q({ limit: CHART_JOBS })}`),
  ]);
  const name = entityName(kind, id);
  document.title = `History of ${name} · opsjobs console`;
  fill(
    main,
    h("h1", {}, "History of ", h("a", { href: `#/${kind}/${seg(id)}` }, name)),
    filterForm(kind, id, filters, operations),
    h("h2", {}, "Jobs over time"),
    jobsChart(latest, `Jobs of ${name} over time by status (the latest ${latest.length})`),
    h("h2", {}, "Jobs"),
    jobTable(jobs, { owner: false }),
    pager(kind, id, filters, skip, jobs.length),
  );
  main.focus({ preventScroll: true });
}
