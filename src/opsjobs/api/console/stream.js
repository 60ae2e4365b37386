// A job's live output: GET /jobs/:id/stream read with fetch, so that a dropped connection
// is resumed from the last event's ID (Last-Event-ID: "<stdout offset>:<stderr offset>")
// and nothing is shown twice or lost. An EventSource would do this only while it keeps
// reconnecting by itself, and gives up for good on an error status.

import { PREFIX, headersFor } from "./api.js";

const RETRY_MS = [500, 1000, 2000, 5000];

// Parses "event:", "id:", "data:" lines; calls onEvent(name, data, id) per event.
function parser(onEvent) {
  let buffer = "";
  return (text) => {
    buffer += text;
    let end;
    while ((end = buffer.indexOf("\n\n")) >= 0) {
      const block = buffer.slice(0, end);
      buffer = buffer.slice(end + 2);
      let name = "message";
      let id = null;
      const data = [];
      for (const line of block.split("\n")) {
        if (line.startsWith(":")) continue; // a keep-alive comment
        const colon = line.indexOf(":");
        const field = colon < 0 ? line : line.slice(0, colon);
        const value = colon < 0 ? "" : line.slice(colon + 1).replace(/^ /, "");
        if (field === "event") name = value;
        else if (field === "id") id = value;
        else if (field === "data") data.push(value);
      }
      if (data.length) onEvent(name, JSON.parse(data.join("\n")), id);
    }
  };
}

// follow(jobId, {output(event), end(job), status(text), refused(response)}) -> stop()
export function follow(jobId, handlers) {
  let lastId = null;
  let stopped = false;
  let ended = false;
  let controller = null;
  let attempt = 0;

  const onEvent = (name, data, id) => {
    if (id) lastId = id;
    if (name === "output") handlers.output(data);
    else if (name === "end") {
      ended = true;
      handlers.end(data);
    }
  };

  async function connect() {
    controller = new AbortController();
    const headers = headersFor("GET", { Accept: "text/event-stream" });
    if (lastId) headers["Last-Event-ID"] = lastId;
    const response = await fetch(`${PREFIX}/jobs/${encodeURIComponent(jobId)}/stream`, { headers, credentials: "same-origin", signal: controller.signal });
    if (!response.ok) {
      if (response.status < 500) {
        stopped = true; // a refusal (401, 404) is not retried
        return handlers.refused(response);
      }
      throw new Error(`HTTP ${response.status}`);
    }
    handlers.status(lastId ? "Live (resumed)" : "Live");
    attempt = 0;
    const feed = parser(onEvent);
    const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      feed(value);
    }
  }

  async function run() {
    while (!stopped && !ended) {
      try {
        await connect();
        if (ended || stopped) return;
      } catch (error) {
        if (stopped) return;
      }
      if (ended) return;
      const wait = RETRY_MS[Math.min(attempt++, RETRY_MS.length - 1)];
      handlers.status(`Connection lost; reconnecting in ${wait / 1000} s…`);
      await new Promise((resolve) => setTimeout(resolve, wait));
    }
  }

  run();
  return () => {
    stopped = true;
    if (controller) controller.abort();
  };
}
