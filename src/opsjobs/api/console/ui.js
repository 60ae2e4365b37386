// What the pages share: who is signed in and what they may see, the alert line, and how a
// refusal of the API is told.

import { ApiError } from "./api.js";
import { byId, fill } from "./dom.js";

export const state = { user: null, objects: new Map(), links: new Map(), users: new Map() };

// What the page showing now wants stopped when another is shown (a live stream).
let leaving = [];
export function onLeave(stop) {
  leaving.push(stop);
}
export function leave() {
  for (const stop of leaving) stop();
  leaving = [];
}

let sessionEnded = () => {};
export function whenSessionEnds(handler) {
  sessionEnded = handler;
}

export function showAlert(text) {
  const alert = byId("alert");
  fill(alert, text || "");
  alert.hidden = !text;
}

// An API refusal in words a person acts on.
export function explain(error) {
  if (!(error instanceof ApiError)) return `Something went wrong: ${error.message}`;
  switch (error.status) {
    case 400:
      return `Refused: ${error.message}`;
    case 403:
      return `Not allowed: ${error.message}`;
    case 404:
      return `Not found, or not visible to you: ${error.message}`;
    case 0:
      return error.message;
    default:
      return `${error.status} ${error.code || ""}: ${error.message}`;
  }
}

// Show a failure: a 401 (the session ended) sends to sign-in.
export function failed(error) {
  if (error instanceof ApiError && error.status === 401) {
    sessionEnded(`Please sign in again: ${error.message}`);
    return;
  }
  showAlert(explain(error));
}

// A user's name as the API tells it (managers see logins, others display names).
export function userName(id) {
  if (!id) return "nobody (not asked for by a user)";
  if (state.user && id === state.user.id) return state.user.login;
  return state.users.get(id) || id;
}

export function entityName(kind, id) {
  const found = (kind === "link" || kind === 2 ? state.links : state.objects).get(id);
  return found ? found.name || id : id;
}

export function kindOf(ownerType) {
  return ownerType === 2 ? "link" : "object";
}
