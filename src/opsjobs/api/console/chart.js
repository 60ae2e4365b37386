// Jobs over time by status: stacked bars in an inline SVG, drawn here (no library).

import { h, s } from "./dom.js";
import { STATUSES, shortWhen } from "./format.js";

const WIDTH = 600;
const HEIGHT = 180;
const PAD = { left: 30, right: 8, top: 8, bottom: 22 };
const BUCKETS = 24;

function buckets(jobs) {
  const times = jobs.map((j) => j.timestamp);
  let start = Math.min(...times);
  let end = Math.max(...times);
  if (end - start < 60_000) {
    start -= 30_000;
    end += 30_000;
  }
  const width = (end - start) / BUCKETS;
  const counts = Array.from({ length: BUCKETS }, () => Object.fromEntries(STATUSES.map((st) => [st, 0])));
  for (const job of jobs) {
    const index = Math.min(BUCKETS - 1, Math.floor((job.timestamp - start) / width));
    const status = (job.execution && job.execution.status) || "queued";
    if (status in counts[index]) counts[index][status] += 1;
  }
  return { start, end, width, counts };
}

export function jobsChart(jobs, caption) {
  if (!jobs.length) return h("p", { className: "muted" }, "No jobs to chart.");
  const { start, end, width, counts } = buckets(jobs);
  const top = Math.max(1, ...counts.map((c) => STATUSES.reduce((n, st) => n + c[st], 0)));
  const plotW = WIDTH - PAD.left - PAD.right;
  const plotH = HEIGHT - PAD.top - PAD.bottom;
  const barW = plotW / BUCKETS;
  const svg = s("svg", { viewBox: `0 0 ${WIDTH} ${HEIGHT}`, class: "chart", role: "img", "aria-label": caption });
  svg.append(s("title", {}, caption));
  svg.append(s("line", { class: "axis", x1: PAD.left, y1: PAD.top + plotH, x2: WIDTH - PAD.right, y2: PAD.top + plotH }));
  svg.append(s("text", { x: PAD.left - 4, y: PAD.top + 8, "text-anchor": "end" }, String(top)));
  svg.append(s("text", { x: PAD.left - 4, y: PAD.top + plotH, "text-anchor": "end" }, "0"));
  svg.append(s("text", { x: PAD.left, y: HEIGHT - 6 }, shortWhen(start)));
  svg.append(s("text", { x: WIDTH - PAD.right, y: HEIGHT - 6, "text-anchor": "end" }, shortWhen(end)));
  counts.forEach((count, i) => {
    let y = PAD.top + plotH;
    const from = start + i * width;
    for (const status of STATUSES) {
      if (!count[status]) continue;
      const height = (count[status] / top) * plotH;
      y -= height;
      svg.append(
        s("rect", { class: `c-${status}`, x: PAD.left + i * barW + 1, y, width: Math.max(1, barW - 2), height },
          s("title", {}, `${shortWhen(from)} – ${shortWhen(from + width)}: ${count[status]} ${status}`)),
      );
    }
  });
  const totals = Object.fromEntries(STATUSES.map((st) => [st, 0]));
  for (const job of jobs) totals[(job.execution && job.execution.status) || "queued"] += 1;
  const legend = h("p", { className: "legend" }, STATUSES.filter((st) => totals[st]).map((st) => h("span", { className: `c-${st}` }, `${st} ${totals[st]}`)));
  return h("figure", { className: "chart-box" }, svg, legend);
}
