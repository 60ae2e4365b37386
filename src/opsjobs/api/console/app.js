// The console: signing in, the routes of the page (#/...), the alert line, the side tree.
// Every page asks the API and shows its answer; what the caller may not see, the API does
// not answer, and the page says so.

import { ApiError, call, del, get } from "./api.js";
import { batchPage, batchesPage, newBatchPage } from "./batches.js";
import { byId, fill, h } from "./dom.js";
import { loadDirectory, renderTree } from "./directory.js";
import { entityPage } from "./entity.js";
import { everything, historyPage } from "./history.js";
import { jobTable } from "./jobs_table.js";
import { jobPage } from "./job.js";
import { runPage } from "./run.js";
import { newSchedulePage, schedulePage, schedulesPage } from "./schedules.js";
import { explain, failed, leave, showAlert, state, whenSessionEnds } from "./ui.js";

function route() {
  const hash = location.hash.replace(/^#/, "") || "/";
  const [path, search = ""] = hash.split("?");
  const parts = path.split("/").filter(Boolean).map(decodeURIComponent);
  return { parts, params: new URLSearchParams(search) };
}

const PAGES = {
  "": () => homePage(),
  object: ([id]) => entityPage("object", id),
  link: ([id]) => entityPage("link", id),
  run: ([kind, id, operation]) => runPage(kind, id, operation),
  job: ([id]) => jobPage(id),
  jobs: (_, params) => historyPage(null, null, params),
  history: ([kind, id], params) => historyPage(kind, id, params),
  schedules: ([sub, kind, id, operation]) => {
    if (sub === undefined) return schedulesPage();
    if (sub === "new") return newSchedulePage(kind, id, operation);
    throw new Error("no such page");
  },
  schedule: ([id]) => schedulePage(id),
  batches: ([sub, kind, id, operation]) => {
    if (sub === undefined) return batchesPage();
    if (sub === "new") return newBatchPage(kind, id, operation);
    throw new Error("no such page");
  },
  batch: ([id], params) => batchPage(id, params),
};

async function show() {
  leave();
  showAlert("");
  window.scrollTo(0, 0);
  if (!state.user) return;
  const { parts, params } = route();
  const page = PAGES[parts[0] || ""];
  const main = byId("main");
  const side = ["", "object", "link"].includes(parts[0] || "");
  byId("side").hidden = !side;
  document.querySelector(".layout").classList.toggle("wide", !side);
  // Drawn only where it is shown: with 10,000 objects it is tens of thousands of elements.
  if (side) renderTree(state, parts[0] === "object" || parts[0] === "link" ? parts[1] : null);
  if (!page) {
    fill(main, h("h1", {}, "No such page"), h("p", {}, h("a", { href: "#/" }, "Back to the objects")));
    return;
  }
  try {
    await page(parts.slice(1), params);
  } catch (error) {
    failed(error);
    if (state.user) {
      fill(main, h("h1", {}, "Nothing to show"), h("p", {}, explain(error)), h("p", {}, h("a", { href: "#/" }, "Back to the objects")));
    }
  }
}

const LATEST = 10;

async function homePage() {
  document.title = "opsjobs console";
  const latest = h("div", { id: "latest" }, h("p", { className: "muted" }, "Loading…"));
  fill(
    byId("main"),
    h("h1", {}, "Objects"),
    h("p", { className: "muted" }, `${state.objects.size} objects and ${state.links.size} links visible to you. Pick one in the tree, or search by name.`),
    h("h2", {}, "Latest jobs"),
    latest,
    h("p", {}, h("a", { href: "#/jobs" }, "All jobs you may see, with filters")),
  );
  fill(latest, jobTable(await everything({}, 0, LATEST)));
}

// -- signing in and out -------------------------------------------------------------------

function signInForm(reason) {
  document.title = "Sign in · opsjobs console";
  const login = h("input", { id: "login", name: "login", autocomplete: "username", required: true });
  const password = h("input", { id: "password", name: "password", type: "password", autocomplete: "current-password", required: true });
  const button = h("button", { type: "submit", className: "primary", id: "sign-in" }, "Sign in");
  const form = h(
    "form",
    { className: "signin", attrs: { "aria-labelledby": "signin-title" } },
    h("h1", { id: "signin-title" }, "Sign in"),
    reason ? h("p", { className: "muted" }, reason) : null,
    h("label", { htmlFor: "login" }, "Login"),
    login,
    h("label", { htmlFor: "password" }, "Password"),
    password,
    button,
  );
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    button.disabled = true;
    showAlert("");
    try {
      await call("POST", "/users/session", { login: login.value, password: password.value });
      password.value = "";
      await start();
    } catch (error) {
      showAlert(error instanceof ApiError && error.status === 401 ? `Sign-in refused: ${error.message}` : explain(error));
      button.disabled = false;
      password.focus();
    }
  });
  fill(byId("main"), form);
  login.focus();
}

function signedOut(reason) {
  leave();
  state.user = null;
  byId("nav").hidden = true;
  byId("side").hidden = true;
  document.querySelector(".layout").classList.add("wide");
  signInForm(reason);
}

async function signOut() {
  try {
    await del("/users/session");
  } catch (error) {
    if (!(error instanceof ApiError && error.status === 401)) {
      showAlert(explain(error));
      return;
    }
  }
  leave();
  signedOut("You are signed out.");
}

async function start() {
  try {
    state.user = await get("/users/current");
  } catch (error) {
    if (error instanceof ApiError && error.status === 401) return signedOut();
    return failed(error);
  }
  fill(byId("who"), state.user.login);
  byId("nav").hidden = false;
  try {
    await loadDirectory(state);
  } catch (error) {
    failed(error);
  }
  await show();
}

whenSessionEnds(signedOut);
window.addEventListener("hashchange", show);
byId("sign-out").addEventListener("click", signOut);
start();
