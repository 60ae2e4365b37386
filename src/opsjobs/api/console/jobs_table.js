// A list of jobs as a table: when, what, how it went, who; each row links to its job page.

import { seg } from "./api.js";
import { h } from "./dom.js";
import { duration, runTime, when } from "./format.js";
import { entityName, kindOf, userName } from "./ui.js";

export function statusBadge(status) {
  return h("span", { className: `status ${status}` }, status || "?");
}

export function jobTable(jobs, { owner = true } = {}) {
  if (!jobs.length) return h("p", { className: "muted" }, "No jobs.");
  const head = ["When", "Operation", "Status", "User", "Duration"];
  if (owner) head.splice(1, 0, "On");
  return h(
    "div",
    { className: "table-wrap" },
    h(
      "table",
      { className: "jobs" },
      h("thead", {}, h("tr", {}, head.map((t) => h("th", { scope: "col", className: t === "User" || t === "Duration" ? "hide-narrow" : "" }, t)))),
      h("tbody", {}, jobs.map((job) => row(job, owner))),
    ),
  );
}

function row(job, owner) {
  const kind = kindOf(job.owner_type);
  const name = (job.operation && job.operation.name) || job.operation_id || "—";
  return h(
    "tr",
    { dataset: { job: job.id } },
    h("td", {}, h("a", { href: `#/job/${seg(job.id)}` }, when(job.timestamp))),
    owner ? h("td", {}, h("a", { href: `#/${kind}/${seg(job.owner_id)}` }, entityName(kind, job.owner_id))) : null,
    h("td", {}, name),
    h("td", {}, statusBadge(job.execution && job.execution.status)),
    h("td", { className: "hide-narrow" }, userName(job.user_id)),
    h("td", { className: "hide-narrow" }, duration(runTime(job))),
  );
}
