// The objects and links the caller may see (the API's lists hold nothing else), the tree of
// objects in the side panel (an object with several parents appears under each), and search
// by name.

import { get } from "./api.js";
import { byId, fill, h } from "./dom.js";

const OBJECT_FIELDS = "name,parent_id,state_id,class_id";
const LINK_FIELDS = "name,source,target,source_name,target_name,state_id";
const MAX_RESULTS = 200;

export async function loadDirectory(state) {
  const [objects, links, users] = await Promise.all([
    get(`/objects?fields=${OBJECT_FIELDS}`),
    get(`/links?fields=${LINK_FIELDS}`),
    get("/users"),
  ]);
  state.objects = new Map(objects.map((o) => [o.id, o]));
  state.links = new Map(links.map((l) => [l.id, { ...l, name: linkName(l) }]));
  state.users = new Map(users.map((u) => [u.id, u.login]));
}

function linkName(link) {
  if (link.name) return link.name;
  return `${link.source_name || link.source} → ${link.target_name || link.target}`;
}

// parent ID -> child objects, by name; roots are objects none of whose parents is visible.
function children(state) {
  const below = new Map();
  const roots = [];
  for (const object of state.objects.values()) {
    const parents = (object.parent_id || []).filter((p) => state.objects.has(p));
    if (parents.length === 0) roots.push(object);
    for (const parent of parents) {
      if (!below.has(parent)) below.set(parent, []);
      below.get(parent).push(object);
    }
  }
  const byName = (a, b) => String(a.name).localeCompare(String(b.name));
  roots.sort(byName);
  for (const list of below.values()) list.sort(byName);
  return { below, roots };
}

function entry(kind, item, current) {
  return h(
    "a",
    { href: `#/${kind}/${encodeURIComponent(item.id)}`, attrs: item.id === current ? { "aria-current": "page" } : {} },
    item.name || item.id,
  );
}

// Branches open this deep by default: two levels, or one in a large tree (10,000 hosts under
// 100 sites would be tens of thousands of elements nobody reads). A closed branch is built
// when it is first opened, so a large tree costs what its open part costs.
const LARGE_TREE = 1000;
let openDepth = 2;

function branch(object, tree, open, current, path) {
  const kids = (tree.below.get(object.id) || []).filter((k) => !path.has(k.id));
  const link = entry("object", object, current);
  if (kids.length === 0) return h("li", {}, link);
  const inner = new Set(path).add(object.id);
  const list = () => h("ul", { attrs: { role: "group" } }, kids.map((k) => branch(k, tree, open, current, inner)));
  const shown = path.size < openDepth || open.has(object.id);
  const details = h("details", { open: shown }, h("summary", {}, link));
  if (shown) details.append(list());
  else {
    details.addEventListener("toggle", () => {
      if (details.open && !details.querySelector("ul")) details.append(list());
    });
  }
  return h("li", {}, details);
}

// The objects above `current` (so that its branches start open).
function ancestors(state, current) {
  const seen = new Set();
  const todo = [current];
  while (todo.length) {
    const object = state.objects.get(todo.pop());
    for (const parent of (object && object.parent_id) || []) {
      if (!seen.has(parent)) {
        seen.add(parent);
        todo.push(parent);
      }
    }
  }
  return seen;
}

function matches(state, text) {
  const needle = text.toLowerCase();
  const found = [];
  for (const [kind, map] of [["object", state.objects], ["link", state.links]]) {
    for (const item of map.values()) {
      if (String(item.name || "").toLowerCase().includes(needle)) found.push([kind, item]);
      if (found.length >= MAX_RESULTS) return found;
    }
  }
  return found;
}

let search = null;
let results = null;
let currentId = null;

export function renderTree(state, current) {
  currentId = current;
  const side = byId("side");
  if (!search) {
    search = h("input", { type: "search", className: "search", id: "search", placeholder: "Search by name", attrs: { "aria-label": "Search objects and links by name" } });
    results = h("div", { id: "tree" });
    search.addEventListener("input", () => draw(state, currentId));
    fill(side, search, results);
  }
  draw(state, current);
}

function draw(state, current) {
  const text = search.value.trim();
  if (text) {
    const found = matches(state, text);
    fill(
      results,
      h("p", { className: "muted", attrs: { "aria-live": "polite" } }, `${found.length}${found.length >= MAX_RESULTS ? "+" : ""} found`),
      h("ul", { className: "tree" }, found.map(([kind, item]) => h("li", {}, entry(kind, item, current), kind === "link" ? h("span", { className: "muted" }, " (link)") : null))),
    );
    return;
  }
  const tree = children(state);
  const open = ancestors(state, current);
  openDepth = state.objects.size > LARGE_TREE ? 1 : 2;
  const links = [...state.links.values()].sort((a, b) => a.name.localeCompare(b.name));
  fill(
    results,
    h("nav", { attrs: { "aria-label": "Object tree" } }, h("ul", { className: "tree" }, tree.roots.map((r) => branch(r, tree, open, current, new Set())))),
    links.length ? h("h2", {}, "Links") : null,
    links.length ? h("ul", { className: "tree" }, links.map((l) => h("li", {}, entry("link", l, current)))) : null,
  );
}
