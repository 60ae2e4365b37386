// Batches: one operation run over many objects or links, so many at a time, as the user who
// made it. The list of the user's batches, a batch's page (counts that update while it runs,
// without moving anything on the page; its jobs; Cancel), and the "Run on many" form that
// runs an operation over the subtree of an object.

import { get, post, seg } from "./api.js";
import { byId, fill, h } from "./dom.js";
import { STATUSES, when } from "./format.js";
import { statusBadge } from "./jobs_table.js";
import { argumentFields, argumentValues, formActions, onSubmit, operationToRun } from "./run.js";
import { entityName, failed, onLeave, showAlert, userName } from "./ui.js";

const PAGE = 100; // jobs of a batch a page
const REFRESH_MS = 1000; // a running batch's page reads it again this often
const COUNTS = ["waiting", ...STATUSES, "skipped", "notQueued"];
const LABELS = { notQueued: "not queued" };

function targetText(target) {
  const [kind, value] = Object.entries(target || {})[0] || ["?", ""];
  if (kind === "subtree") return ["subtree of ", h("a", { href: `#/object/${seg(value)}` }, entityName("object", value))];
  if (kind === "class") return `class ${value}`;
  if (kind === "tag") return `tag “${value}”`;
  if (Array.isArray(value)) return `${value.length} ${kind}`;
  return `${kind} ${String(value)}`;
}

function total(counts) {
  return COUNTS.reduce((n, name) => n + (counts[name] || 0), 0);
}

function countsText(counts) {
  const parts = COUNTS.filter((name) => counts[name]).map((name) => `${LABELS[name] || name} ${counts[name]}`);
  return parts.length ? parts.join(" · ") : "no targets";
}

function batchRow(batch) {
  return h(
    "tr",
    { dataset: { batch: batch.id } },
    h("td", {}, h("a", { href: `#/batch/${seg(batch.id)}` }, batch.name)),
    h("td", {}, batch.operation),
    h("td", {}, targetText(batch.target)),
    h("td", {}, statusBadge(batch.status)),
    h("td", { className: "hide-narrow" }, countsText(batch.counts || {})),
    h("td", { className: "hide-narrow" }, when(batch.created)),
  );
}

export async function batchesPage() {
  const main = byId("main");
  fill(main, h("p", { className: "muted" }, "Loading…"));
  const batches = await get("/batches");
  document.title = "Batches · opsjobs console";
  const head = ["Name", "Operation", "Targets", "Status", "Jobs", "Made"];
  fill(
    main,
    h("h1", {}, "Batches"),
    h("p", { className: "muted" }, "One operation run over many objects or links, so many at a time. To start one, open an object and choose “Run on many” beside an operation."),
    batches.length
      ? h(
          "div",
          { className: "table-wrap" },
          h(
            "table",
            { className: "jobs", id: "batches" },
            h("thead", {}, h("tr", {}, head.map((t) => h("th", { scope: "col", className: t === "Jobs" || t === "Made" ? "hide-narrow" : "" }, t)))),
            h("tbody", {}, batches.map(batchRow)),
          ),
        )
      : h("p", { className: "muted", id: "batches" }, "No batches of yours."),
  );
  main.focus({ preventScroll: true });
}

// -- one batch ------------------------------------------------------------------------------

// One cell per count, made once; updates change their text only, in fixed-width cells.
function countCells() {
  const cells = new Map();
  const grid = h(
    "dl",
    { className: "counts", id: "batch-counts" },
    COUNTS.map((name) => {
      const value = h("dd", { dataset: { count: name } }, "0");
      cells.set(name, value);
      return h("div", { className: `count c-${name}` }, h("dt", {}, LABELS[name] || name), value);
    }),
  );
  return { grid, update: (counts) => cells.forEach((cell, name) => (cell.textContent = String(counts[name] || 0))) };
}

function batchFacts(batch, operationName) {
  const rows = [
    ["Status", h("span", {}, statusBadge(batch.status), batch.stoppedReason ? ` ${batch.stoppedReason}` : "")],
    ["Operation", operationName],
    ["Targets", h("span", {}, targetText(batch.target))],
    ["At a time", String(batch.concurrency)],
    ["Stops after", batch.stopAfterFailures ? `${batch.stopAfterFailures} failures` : "never stops for failures"],
    ["Arguments", Object.keys(batch.args || {}).length ? h("code", {}, JSON.stringify(batch.args)) : "none"],
    ["Runs as", userName(batch.owner)],
    ["Made", when(batch.created)],
    ["Finished", when(batch.finishedAt)],
  ];
  return h("dl", { className: "kv", id: "batch-facts" }, rows.flatMap(([k, v]) => [h("dt", {}, k), h("dd", {}, v)]));
}

function entityLink(entity) {
  const [kind, id] = Object.entries(entity || {})[0] || ["object", ""];
  return h("a", { href: `#/${kind}/${seg(id)}` }, entityName(kind, id));
}

function jobRows(batch) {
  if (!batch.jobs.length) return h("p", { className: "muted" }, "No jobs yet.");
  return h(
    "div",
    { className: "table-wrap" },
    h(
      "table",
      { className: "jobs" },
      h("thead", {}, h("tr", {}, h("th", { scope: "col" }, "On"), h("th", { scope: "col" }, "Status"), h("th", { scope: "col" }, "Job"))),
      h("tbody", {}, batch.jobs.map((job) => h("tr", { dataset: { job: job.id } }, h("td", {}, entityLink(job.entity)), h("td", {}, statusBadge(job.status)), h("td", {}, h("a", { href: `#/job/${seg(job.id)}` }, "open"))))),
    ),
  );
}

function skippedList(batch) {
  const list = batch.skipped || [];
  if (!list.length) return null;
  return [h("h2", {}, "Skipped"), h("ul", { id: "batch-skipped" }, list.map((s) => h("li", {}, entityLink(s.entity), `: ${s.reason}`)))];
}

export async function batchPage(id, params) {
  const main = byId("main");
  fill(main, h("p", { className: "muted" }, "Loading…"));
  const skip = Math.max(0, Math.min(10_000, Number(params.get("skip")) || 0));
  const path = `/batches/${seg(id)}?limit=${PAGE}&skip=${skip}`;
  let batch = await get(path);
  const subtree = (batch.target || {}).subtree;
  const ops = subtree ? await get(`/objects/${seg(subtree)}/operations`).catch(() => []) : [];
  const operationName = (ops.find((o) => o.id === batch.operation) || {}).name || batch.operation;
  document.title = `Batch ${batch.name} · opsjobs console`;
  const counts = countCells();
  const factsBox = h("div", {});
  const jobsBox = h("div", { id: "batch-jobs" });
  const progress = h("progress", { id: "batch-progress", max: 1, value: 0, attrs: { "aria-label": "Jobs done" } });
  const live = h("p", { className: "live", id: "batch-live", attrs: { "aria-live": "polite" } });
  const cancel = h("button", { type: "button", className: "danger", id: "cancel-batch" }, "Cancel the batch");
  const render = (doc) => {
    batch = doc;
    fill(factsBox, batchFacts(doc, operationName));
    counts.update(doc.counts || {});
    const all = total(doc.counts || {});
    const open = (doc.counts.waiting || 0) + (doc.counts.queued || 0) + (doc.counts.running || 0);
    progress.max = Math.max(1, all);
    progress.value = all - open;
    fill(jobsBox, jobRows(doc));
    cancel.hidden = doc.status !== "running";
    fill(live, doc.status === "running" ? `Running: ${all - open} of ${all} done` : `Ended: ${doc.status}`);
  };
  cancel.addEventListener("click", async () => {
    cancel.disabled = true;
    try {
      render(await post(`/batches/${seg(id)}/cancel`));
      showAlert("");
    } catch (error) {
      failed(error);
    }
    cancel.disabled = false;
  });
  const pager = h(
    "nav",
    { className: "pager", attrs: { "aria-label": "Pages of jobs" } },
    skip > 0 ? h("a", { className: "button", href: `#/batch/${seg(id)}?skip=${Math.max(0, skip - PAGE)}` }, "Earlier") : null,
    batch.jobs.length === PAGE ? h("a", { className: "button", href: `#/batch/${seg(id)}?skip=${skip + PAGE}`, id: "batch-next" }, "Later") : null,
  );
  fill(
    main,
    h("h1", {}, `Batch: ${batch.name}`),
    h("p", { className: "muted" }, `Batch ${batch.id}`),
    factsBox,
    h("div", { className: "actions" }, cancel, h("a", { className: "button", href: "#/batches" }, "All batches")),
    h("h2", {}, "Jobs"),
    progress,
    live,
    counts.grid,
    jobsBox,
    pager,
    skippedList(batch),
  );
  render(batch);
  main.focus({ preventScroll: true });
  // While it runs: read it again each second; the cells keep their place, only text changes.
  let busy = false;
  const timer = setInterval(async () => {
    if (busy || batch.status !== "running") return;
    busy = true;
    try {
      render(await get(path));
    } catch (error) {
      failed(error);
    } finally {
      busy = false;
    }
  }, REFRESH_MS);
  onLeave(() => clearInterval(timer));
}

// -- run on many ----------------------------------------------------------------------------

export async function newBatchPage(kind, id, operationId) {
  if (kind !== "object") throw new Error("a batch runs over the subtree of an object");
  const { op, args } = await operationToRun(kind, id, operationId);
  document.title = `Run ${op.name} on many · opsjobs console`;
  const button = h("button", { type: "submit", className: "primary", id: "start-batch" }, "Start the batch");
  const form = h(
    "form",
    { id: "batch-form" },
    h("label", { htmlFor: "b-name" }, "Name"),
    h("input", { id: "b-name", name: "name", required: true, maxLength: 255, value: `${op.name} under ${entityName(kind, id)}`, autocomplete: "off" }),
    h("label", { htmlFor: "b-concurrency" }, "At most this many at a time", h("span", { className: "hint" }, " — 1 to 100")),
    h("input", { id: "b-concurrency", name: "concurrency", type: "number", min: 1, max: 100, step: 1, value: 5, required: true }),
    h("label", { htmlFor: "b-stop" }, "Stop after this many failures", h("span", { className: "hint" }, " — empty: never")),
    h("input", { id: "b-stop", name: "stopAfterFailures", type: "number", min: 1, max: 10000, step: 1 }),
    argumentFields(args, "Arguments of each run"),
    formActions(button, kind, id),
  );
  onSubmit(form, button, async () => {
    const value = (name) => form.elements.namedItem(name).value;
    const body = { name: value("name").trim(), operation: operationId, target: { subtree: id }, args: argumentValues(args, form), concurrency: Number(value("concurrency")) };
    if (value("stopAfterFailures") !== "") body.stopAfterFailures = Number(value("stopAfterFailures"));
    const made = await post("/batches", body);
    return `#/batch/${seg(made.id)}`;
  });
  fill(
    byId("main"),
    h("h1", {}, `Run “${op.name}” on many`),
    h("p", {}, "On ", h("a", { href: `#/${kind}/${seg(id)}` }, entityName(kind, id)), " and every object under it that you may see. Objects the operation does not belong to (its own, or its class's) are skipped, with the reason."),
    form,
  );
  form.querySelector("#b-name").focus();
}
