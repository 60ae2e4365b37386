// Times in the viewer's own zone and language; durations; statuses.

export const STATUSES = ["queued", "running", "succeeded", "failed", "timeout", "cancelled", "lost"];
export const FINISHED = new Set(["succeeded", "failed", "timeout", "cancelled"]);

const dateTime = new Intl.DateTimeFormat(undefined, { dateStyle: "medium", timeStyle: "medium" });
const short = new Intl.DateTimeFormat(undefined, { month: "short", day: "numeric", hour: "2-digit", minute: "2-digit" });

export function when(ms) {
  return typeof ms === "number" ? dateTime.format(new Date(ms)) : "—";
}

export function shortWhen(ms) {
  return short.format(new Date(ms));
}

export function duration(ms) {
  if (typeof ms !== "number" || ms < 0) return "—";
  if (ms < 1000) return `${ms} ms`;
  const seconds = ms / 1000;
  if (seconds < 60) return `${seconds.toFixed(seconds < 10 ? 2 : 1)} s`;
  const minutes = Math.floor(seconds / 60);
  if (minutes < 60) return `${minutes} min ${Math.round(seconds % 60)} s`;
  return `${Math.floor(minutes / 60)} h ${minutes % 60} min`;
}

// A job's run time: finished - started, or so far while it runs.
export function runTime(job) {
  const run = job.execution || {};
  if (typeof run.started !== "number") return null;
  return (typeof run.finished === "number" ? run.finished : Date.now()) - run.started;
}

// <input type="datetime-local"> value (the viewer's zone) <-> ms.
export function fromLocalInput(value) {
  if (!value) return null;
  const ms = new Date(value).getTime();
  return Number.isFinite(ms) ? ms : null;
}

export function toLocalInput(ms) {
  if (typeof ms !== "number") return "";
  const d = new Date(ms);
  const pad = (n) => String(n).padStart(2, "0");
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}T${pad(d.getHours())}:${pad(d.getMinutes())}`;
}
