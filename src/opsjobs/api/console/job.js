// A job's page: status, who asked and when (or which schedule or trigger), output live while it runs
// (from the event stream, resumed after a dropped connection), exit code, duration,
// truncation, custom results, and a cancel button while it can still be cancelled.

import { ApiError, entityPath, get, post, seg } from "./api.js";
import { byId, fill, h } from "./dom.js";
import { FINISHED, duration, runTime, when } from "./format.js";
import { statusBadge } from "./jobs_table.js";
import { follow } from "./stream.js";
import { entityName, failed, kindOf, onLeave, showAlert, userName } from "./ui.js";


const UNKNOWN = "an operation no longer offered";

// The job document names its operation by ID; its name is the entity's operation's, while
// the entity still has it (the history lists keep the name the job was made with).
function operationName(kind, ownerId, operationId) {
  if (!operationId) return Promise.resolve(UNKNOWN);
  return get(`${entityPath(kind, ownerId)}/operations`)
    .then((ops) => (ops.find((op) => op.id === operationId) || {}).name || `${UNKNOWN} (${operationId})`)
    .catch(() => `${UNKNOWN} (${operationId})`);
}

// A schedule's run: which schedule, as whom, for which due time (docs/api.md §20).
function bySchedule(job, schedule) {
  const late = schedule.late ? `, late (due ${when(schedule.dueAt)})` : "";
  return h(
    "span",
    { id: "asked-by-schedule" },
    "schedule ",
    h("a", { href: `#/schedule/${seg(String(schedule.id))}` }, String(schedule.name ?? schedule.id)),
    ` as ${userName(job.user_id)}${late}`,
  );
}

// Who started it: a user, a schedule (process_meta.schedule), or a state trigger
// (process_meta.triggerStates).
function askedBy(job) {
  const meta = job.process_meta;
  if (meta && meta.schedule && typeof meta.schedule === "object" && meta.schedule.id) return bySchedule(job, meta.schedule);
  if (meta && meta.batch && typeof meta.batch === "object" && meta.batch.id) {
    return h("span", { id: "asked-by-batch" }, "batch ", h("a", { href: `#/batch/${seg(String(meta.batch.id))}` }, String(meta.batch.name ?? meta.batch.id)), ` as ${userName(job.user_id)}`);
  }
  if (meta && Array.isArray(meta.triggerStates)) {
    return `a state trigger (states ${meta.triggerStates.map(String).join(", ")})`;
  }
  if (meta && typeof meta === "object") return `automation: ${JSON.stringify(meta)}`;
  return userName(job.user_id);
}

function facts(job, name) {
  const run = job.execution || {};
  const kind = kindOf(job.owner_type);
  const described = job.description || {};
  const rows = [
    ["Status", statusBadge(run.status)],
    ["On", h("a", { href: `#/${kind}/${seg(job.owner_id)}` }, entityName(kind, job.owner_id))],
    ["Operation", name],
    ["Asked by", askedBy(job)],
    ["Asked at", when(job.timestamp)],
    ["Started", when(run.started)],
    ["Finished", when(run.finished)],
    ["Duration", h("span", { id: "duration" }, duration(runTime(job)))],
    ["Exit code", described.exitCode === undefined ? "—" : String(described.exitCode)],
    ["Error", run.error || "—"],
    ["Runner", run.runner || "—"],
  ];
  return h("dl", { className: "kv", id: "job-facts" }, rows.flatMap(([k, v]) => [h("dt", {}, k), h("dd", {}, v)]));
}

function outputBox(stream, text) {
  const pre = h("pre", { className: `output ${stream}`, id: `out-${stream}`, tabIndex: 0, attrs: { "aria-label": stream, role: "log" } });
  pre.textContent = text || "";
  return pre;
}

// Append without moving a reader who scrolled up; follow the end for one who did not.
function appendTo(pre, text) {
  const atEnd = pre.scrollTop + pre.clientHeight >= pre.scrollHeight - 4;
  pre.append(document.createTextNode(text));
  if (atEnd) pre.scrollTop = pre.scrollHeight;
}

function results(job) {
  const list = Array.isArray(job.results) ? job.results : [];
  if (!list.length) return h("p", { className: "muted" }, "No custom results.");
  return h("ul", {}, list.map((r) => h("li", {}, `${when(r.timestamp)} by ${userName(r.by)}: `, h("code", {}, JSON.stringify(r.payload)))));
}

function mqtt(job) {
  const d = job.description || {};
  if (d.topic === undefined) return null;
  return h("dl", { className: "kv" }, h("dt", {}, "Topic"), h("dd", {}, String(d.topic)), h("dt", {}, "Message"), h("dd", {}, String(d.message)));
}

export async function jobPage(id) {
  const main = byId("main");
  fill(main, h("p", { className: "muted" }, "Loading…"));
  let job = await get(`/jobs/${seg(id)}`);
  const kind = kindOf(job.owner_type);
  const name = await operationName(kind, job.owner_id, job.operation_id);
  document.title = `Job ${name} · opsjobs console`;
  const live = h("p", { className: "live", id: "live", attrs: { "aria-live": "polite" } });
  const cancel = h("button", { type: "button", className: "danger", id: "cancel" }, "Cancel");
  const notice = h("p", { className: "notice", id: "truncated", hidden: true }, "Output was cut to the server's cap: the start and the latest part are kept, with a line saying how much was left out.");
  const stdout = outputBox("stdout", (job.description || {}).stdout);
  const stderr = outputBox("stderr", (job.description || {}).stderr);
  const factsBox = h("div", {}, facts(job, name));
  const resultsBox = h("div", {}, results(job));
  const mqttBox = h("div", {}, mqtt(job));

  const render = (doc) => {
    job = doc;
    fill(factsBox, facts(doc, name));
    fill(resultsBox, results(doc));
    fill(mqttBox, mqtt(doc));
    notice.hidden = !(doc.execution && doc.execution.truncated);
    cancel.hidden = FINISHED.has(doc.execution && doc.execution.status) || (doc.execution && doc.execution.status === "lost");
  };

  // The stream's end may come before the cancel's answer: the later, older view is dropped.
  let ended = false;
  cancel.addEventListener("click", async () => {
    cancel.disabled = true;
    try {
      const answer = await post(`/jobs/${seg(id)}/cancel`);
      if (!ended) {
        render(answer);
        fill(live, "Cancel requested; waiting for the run to stop…");
      }
    } catch (error) {
      if (error instanceof ApiError && error.status === 409) showAlert(`Not cancelled: ${error.message}`);
      else failed(error);
    }
    cancel.disabled = false;
  });

  fill(
    main,
    h("h1", {}, `Job: ${name}`),
    h("p", { className: "muted" }, `Job ${id}`),
    h(
      "div",
      { className: "job-grid" },
      h(
        "section",
        { attrs: { "aria-label": "About the job" } },
        factsBox,
        live,
        h("div", { className: "actions" }, cancel, h("a", { className: "button", href: `#/history/${kind}/${seg(job.owner_id)}` }, "History of this " + kind)),
        notice,
        mqttBox,
      ),
      h(
        "section",
        { className: "job-output", attrs: { "aria-label": "Output" } },
        h("h2", {}, "Output"),
        stdout,
        h("h2", {}, "Errors (stderr)"),
        stderr,
        h("h2", {}, "Custom results"),
        resultsBox,
      ),
    ),
  );
  render(job);
  main.focus({ preventScroll: true });
  const status = job.execution && job.execution.status;
  if (status !== "queued" && status !== "running") {
    fill(live, `Finished: ${status}`);
    return;
  }
  stdout.textContent = "";
  stderr.textContent = "";
  // A job shown queued that has output has started: its document tells when and where.
  let refreshing = false;
  const started = () => {
    if (refreshing || ended || (job.execution && job.execution.status) !== "queued") return;
    refreshing = true;
    get(`/jobs/${seg(id)}`)
      .then((doc) => ended || render(doc))
      .catch(() => {})
      .finally(() => {
        refreshing = false;
      });
  };
  const tick = setInterval(() => {
    const box = byId("duration");
    if (box) box.textContent = duration(runTime(job));
    started(); // a queued job that prints nothing is still seen to start
  }, 1000);
  const stop = follow(id, {
    output: (event) => {
      appendTo(event.stream === "stderr" ? stderr : stdout, event.data);
      started();
    },
    end: (doc) => {
      ended = true;
      clearInterval(tick);
      render(doc);
      const d = doc.description || {};
      if (typeof d.stdout === "string") stdout.textContent = d.stdout;
      if (typeof d.stderr === "string") stderr.textContent = d.stderr;
      stdout.scrollTop = stdout.scrollHeight;
      fill(live, `Finished: ${doc.execution.status}`);
    },
    status: (text) => fill(live, text),
    refused: (response) => {
      clearInterval(tick);
      failed(new ApiError(response.status, null, `the live output was refused (HTTP ${response.status})`));
    },
  });
  onLeave(() => {
    clearInterval(tick);
    stop();
  });
}
