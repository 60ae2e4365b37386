// Schedules (docs/api.md §20): the list of those the caller may read, one schedule's page
// (pause, resume, delete, its recent jobs), and the form that makes one for an operation of
// an object or a link. The API decides who may read or change which; the pages show that.

import { del, entityPath, get, isEntityKind, post, seg } from "./api.js";
import { byId, fill, h } from "./dom.js";
import { when } from "./format.js";
import { jobTable } from "./jobs_table.js";
import { argumentFields, argumentValues, formActions, onSubmit, operationToRun } from "./run.js";
import { entityName, failed, showAlert, userName } from "./ui.js";

const RECENT = 10; // jobs of the schedule shown on its page
const SCANNED = 200; // the owner's latest jobs of that operation on the target, searched for them
const NAMED_TARGETS = 50; // operation names are looked up for at most this many targets

function targetOf(schedule) {
  const [kind, id] = Object.entries(schedule.target || {})[0] || ["object", ""];
  return { kind, id };
}

export function timing(schedule) {
  if (schedule.cron) return `cron “${schedule.cron}” (${schedule.timezone || "UTC"})`;
  const seconds = schedule.interval;
  if (seconds % 86400 === 0) return `every ${seconds / 86400} d`;
  if (seconds % 3600 === 0) return `every ${seconds / 3600} h`;
  if (seconds % 60 === 0) return `every ${seconds / 60} min`;
  return `every ${seconds} s`;
}

function condition(schedule) {
  if (schedule.stoppedReason) return h("span", { className: "status failed" }, `stopped: ${schedule.stoppedReason}`);
  if (schedule.paused) return h("span", { className: "status queued" }, "paused");
  return h("span", { className: "status succeeded" }, "active");
}

function nextRun(schedule) {
  return schedule.paused || typeof schedule.nextRunAt !== "number" ? "—" : when(schedule.nextRunAt);
}

function targetLink({ kind, id }) {
  return h("a", { href: `#/${kind}/${seg(id)}` }, entityName(kind, id));
}

function lastJob(schedule) {
  return schedule.lastJobId ? h("a", { href: `#/job/${seg(schedule.lastJobId)}` }, when(schedule.lastRunAt)) : "—";
}

// Operation ID -> name, from the operations of the schedules' targets (a few calls at most).
async function operationNames(schedules) {
  const targets = new Map();
  for (const schedule of schedules) {
    const { kind, id } = targetOf(schedule);
    if (isEntityKind(kind)) targets.set(`${kind}/${id}`, { kind, id });
  }
  const names = new Map();
  const lists = await Promise.all(
    [...targets.values()].slice(0, NAMED_TARGETS).map(({ kind, id }) => get(`${entityPath(kind, id)}/operations`).catch(() => [])),
  );
  for (const op of lists.flat()) names.set(op.id, op.name);
  return names;
}

function scheduleRow(schedule, names) {
  return h(
    "tr",
    { dataset: { schedule: schedule.id } },
    h("td", {}, h("a", { href: `#/schedule/${seg(schedule.id)}` }, schedule.name)),
    h("td", {}, names.get(schedule.operation) || schedule.operation),
    h("td", {}, targetLink(targetOf(schedule))),
    h("td", { className: "hide-narrow" }, timing(schedule)),
    h("td", {}, nextRun(schedule)),
    h("td", {}, condition(schedule)),
    h("td", { className: "hide-narrow" }, lastJob(schedule)),
  );
}

export async function schedulesPage() {
  const main = byId("main");
  fill(main, h("p", { className: "muted" }, "Loading…"));
  const schedules = await get("/schedules");
  const names = await operationNames(schedules);
  document.title = "Schedules · opsjobs console";
  const head = ["Name", "Operation", "On", "When", "Next run", "State", "Last job"];
  const narrow = new Set(["When", "Last job"]);
  fill(
    main,
    h("h1", {}, "Schedules"),
    h("p", { className: "muted" }, "Operations run at the times of a cron expression or at an interval, as the user who made the schedule. Times are in your time zone. To make one, open an object or a link and choose “Schedule” beside an operation."),
    schedules.length
      ? h(
          "div",
          { className: "table-wrap" },
          h(
            "table",
            { className: "jobs", id: "schedules" },
            h("thead", {}, h("tr", {}, head.map((t) => h("th", { scope: "col", className: narrow.has(t) ? "hide-narrow" : "" }, t)))),
            h("tbody", {}, schedules.map((s) => scheduleRow(s, names))),
          ),
        )
      : h("p", { className: "muted", id: "schedules" }, "No schedules you may read."),
  );
  main.focus({ preventScroll: true });
}

// -- one schedule ---------------------------------------------------------------------------

function scheduleFacts(schedule, operationName) {
  const target = targetOf(schedule);
  const rows = [
    ["State", condition(schedule)],
    ["Operation", operationName],
    ["On", targetLink(target)],
    ["When", timing(schedule)],
    ["Next run", h("span", { id: "next-run" }, nextRun(schedule))],
    ["Missed times", schedule.missed === "run-once" ? "run once when the server is back" : "skipped"],
    ["Arguments", Object.keys(schedule.args || {}).length ? h("code", {}, JSON.stringify(schedule.args)) : "none"],
    ["Runs as", userName(schedule.owner)],
    ["Last run", lastJob(schedule)],
    ["Made", when(schedule.created)],
    ["Changed", when(schedule.updated)],
  ];
  return h("dl", { className: "kv", id: "schedule-facts" }, rows.flatMap(([k, v]) => [h("dt", {}, k), h("dd", {}, v)]));
}

// The schedule's own jobs: the API has no filter on process_meta, so the owner's latest jobs
// of that operation on the target are read (one indexed query) and those naming it kept.
async function recentJobs(schedule) {
  const { kind, id } = targetOf(schedule);
  const params = new URLSearchParams({ order: "desc", limit: String(SCANNED), operation_id: schedule.operation, user_id: schedule.owner });
  if (!isEntityKind(kind)) return [];
  const jobs = await get(`${entityPath(kind, id)}/jobs?${params}`).catch(() => []);
  return jobs.filter((job) => job.process_meta && job.process_meta.schedule && job.process_meta.schedule.id === schedule.id).slice(0, RECENT);
}

function historyHref(schedule) {
  const { kind, id } = targetOf(schedule);
  const params = new URLSearchParams({ operation_id: schedule.operation, user_id: schedule.owner });
  return `#/history/${kind}/${seg(id)}?${params}`;
}

function actions(schedule, render) {
  const id = seg(schedule.id);
  const change = async (button, verb) => {
    button.disabled = true;
    try {
      render(await post(`/schedules/${id}/${verb}`));
      showAlert("");
    } catch (error) {
      failed(error);
      button.disabled = false;
    }
  };
  const toggle = schedule.paused
    ? h("button", { type: "button", className: "primary", id: "resume" }, "Resume")
    : h("button", { type: "button", id: "pause" }, "Pause");
  toggle.addEventListener("click", () => change(toggle, schedule.paused ? "resume" : "pause"));
  const remove = h("button", { type: "button", className: "danger", id: "delete" }, "Delete");
  const confirm = h("button", { type: "button", className: "danger", id: "confirm-delete", hidden: true }, "Delete it: its jobs stay");
  remove.addEventListener("click", () => {
    remove.hidden = true;
    confirm.hidden = false;
    confirm.focus();
  });
  confirm.addEventListener("click", async () => {
    confirm.disabled = true;
    try {
      await del(`/schedules/${id}`);
      location.hash = "#/schedules";
    } catch (error) {
      failed(error);
      confirm.disabled = false;
    }
  });
  return h("div", { className: "actions" }, toggle, remove, confirm);
}

export async function schedulePage(id) {
  const main = byId("main");
  fill(main, h("p", { className: "muted" }, "Loading…"));
  const schedule = await get(`/schedules/${seg(id)}`);
  const [names, jobs] = await Promise.all([operationNames([schedule]), recentJobs(schedule)]);
  const operationName = names.get(schedule.operation) || schedule.operation;
  document.title = `Schedule ${schedule.name} · opsjobs console`;
  const about = h("div", {});
  const render = (doc) => {
    fill(about, scheduleFacts(doc, operationName), actions(doc, render));
  };
  render(schedule);
  fill(
    main,
    h("h1", {}, `Schedule: ${schedule.name}`),
    h("p", { className: "muted" }, `Schedule ${schedule.id}`),
    about,
    h("h2", {}, "Its latest jobs"),
    h("div", { id: "schedule-jobs" }, jobTable(jobs, { owner: false })),
    h("p", {}, h("a", { href: historyHref(schedule), id: "schedule-history" }, "Every job of this operation by its user on the target")),
    h("p", {}, h("a", { href: "#/schedules" }, "All schedules")),
  );
  main.focus({ preventScroll: true });
}

// -- making one -----------------------------------------------------------------------------

function zones() {
  const list = typeof Intl.supportedValuesOf === "function" ? Intl.supportedValuesOf("timeZone") : [];
  return h("datalist", { id: "zones" }, ["UTC", ...list].map((zone) => h("option", { value: zone })));
}

function timingFields() {
  const viewer = Intl.DateTimeFormat().resolvedOptions().timeZone || "UTC";
  const kind = (value, label, checked) =>
    h("label", { className: "choice" }, h("input", { type: "radio", name: "timing", value, checked, id: `timing-${value}` }), ` ${label}`);
  return [
    h("fieldset", {}, h("legend", {}, "Runs"), kind("cron", "at the times of a cron expression", true), kind("interval", "every so many seconds", false)),
    h("div", { className: "by-cron" },
      h("label", { htmlFor: "s-cron" }, "Cron expression", h("span", { className: "hint" }, " — minute hour day-of-month month day-of-week, e.g. 0 3 * * 1-5")),
      h("input", { id: "s-cron", name: "cron", value: "0 * * * *", maxLength: 120, autocomplete: "off", spellcheck: false }),
      h("label", { htmlFor: "s-zone" }, "Time zone", h("span", { className: "hint" }, " — the cron times are read in it")),
      h("input", { id: "s-zone", name: "timezone", value: viewer, attrs: { list: "zones" }, autocomplete: "off" }),
      zones(),
    ),
    h("div", { className: "by-interval", hidden: true },
      h("label", { htmlFor: "s-interval" }, "Interval (seconds)", h("span", { className: "hint" }, " — 1 to 31,622,400")),
      h("input", { id: "s-interval", name: "interval", type: "number", min: 1, max: 31622400, step: 1, value: 3600 }),
    ),
  ];
}

function scheduleBody(form, kind, id, operationId, args) {
  const value = (name) => form.elements.namedItem(name).value;
  const body = { name: value("name").trim(), operation: operationId, target: { [kind]: id }, args: argumentValues(args, form), missed: value("missed") };
  if (form.querySelector("#timing-cron").checked) {
    body.cron = value("cron").trim();
    body.timezone = value("timezone").trim() || "UTC";
  } else {
    body.interval = Number(value("interval"));
  }
  return body;
}

export async function newSchedulePage(kind, id, operationId) {
  const { op, args } = await operationToRun(kind, id, operationId);
  document.title = `Schedule ${op.name} · opsjobs console`;
  const button = h("button", { type: "submit", className: "primary", id: "save-schedule" }, "Make the schedule");
  const form = h(
    "form",
    { id: "schedule-form" },
    h("label", { htmlFor: "s-name" }, "Name"),
    h("input", { id: "s-name", name: "name", required: true, maxLength: 255, value: `${op.name} on ${entityName(kind, id)}`, autocomplete: "off" }),
    timingFields(),
    h("label", { htmlFor: "s-missed" }, "Times missed while no server ran"),
    h("select", { id: "s-missed", name: "missed" }, h("option", { value: "skip" }, "skip them"), h("option", { value: "run-once" }, "run once when a server is back")),
    argumentFields(args, "Arguments of each run"),
    formActions(button, kind, id),
  );
  form.addEventListener("change", () => {
    const cron = form.querySelector("#timing-cron").checked;
    form.querySelector(".by-cron").hidden = !cron;
    form.querySelector(".by-interval").hidden = cron;
  });
  onSubmit(form, button, async () => {
    const made = await post("/schedules", scheduleBody(form, kind, id, operationId, args));
    return `#/schedule/${seg(made.id)}`;
  });
  fill(
    byId("main"),
    h("h1", {}, `Schedule “${op.name}”`),
    h("p", {}, "On ", h("a", { href: `#/${kind}/${seg(id)}` }, entityName(kind, id)), ". Each run is yours: it is checked against your rights when it is due."),
    form,
  );
  form.querySelector("#s-name").focus();
}
