// Every call to the API: same origin, the session's cookies, the CSRF token on every change.
// The console decides nothing itself: a refusal comes back as an ApiError to show.

export const PREFIX = "/node/api";
const PLURAL = { object: "objects", link: "links" };

// Whether a kind (from the page's address, or a document) is one the API has: an object or
// a link, and nothing an object inherits ("constructor").
export function isEntityKind(kind) {
  return Object.hasOwn(PLURAL, kind);
}

// Where an object or a link lives in the API ("/objects/<id>"); an error for any other kind.
export function entityPath(kind, id) {
  if (!isEntityKind(kind)) throw new Error("no such kind");
  return `/${PLURAL[kind]}/${seg(id)}`;
}
const CHANGING = new Set(["POST", "PUT", "PATCH", "DELETE"]);

export class ApiError extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

export function cookie(name) {
  for (const part of document.cookie.split(";")) {
    const [key, ...rest] = part.trim().split("=");
    if (key === name) return decodeURIComponent(rest.join("="));
  }
  return null;
}

// SAYMON's 401 messages are themselves JSON ({"errorCode": 3, "message": "..."}).
function messageOf(status, body) {
  let message = body && typeof body === "object" ? body.message : body;
  if (typeof message === "string" && message.startsWith("{")) {
    try {
      message = JSON.parse(message).message ?? message;
    } catch {
      /* kept as it is */
    }
  }
  return typeof message === "string" && message ? message : `HTTP ${status}`;
}

export function headersFor(method, extra = {}) {
  const headers = { Accept: "application/json", ...extra };
  if (CHANGING.has(method)) {
    const token = cookie("csrf");
    if (token) headers["X-CSRF-Token"] = token;
  }
  return headers;
}

export async function call(method, path, body, extra = {}) {
  const init = { method, credentials: "same-origin", headers: headersFor(method, extra) };
  if (body !== undefined) {
    init.body = JSON.stringify(body);
    init.headers["Content-Type"] = "application/json";
  }
  let response;
  try {
    response = await fetch(PREFIX + path, init);
  } catch (error) {
    throw new ApiError(0, "Network", `The server did not answer (${error.message})`);
  }
  const text = await response.text();
  let data = null;
  if (text) {
    try {
      data = JSON.parse(text);
    } catch {
      data = text;
    }
  }
  if (!response.ok) throw new ApiError(response.status, data && data.code, messageOf(response.status, data));
  return data;
}

export const get = (path) => call("GET", path);
export const post = (path, body, extra) => call("POST", path, body, extra);
export const del = (path) => call("DELETE", path);

// A query string from the values that are set.
export function query(params) {
  const search = new URLSearchParams();
  for (const [key, value] of Object.entries(params)) {
    if (value !== undefined && value !== null && value !== "") search.set(key, String(value));
  }
  const text = search.toString();
  return text ? "?" + text : "";
}

export const seg = encodeURIComponent;
