// Building the page from data without ever parsing data as markup: every text goes in as a
// text node (job output, names and messages are hostile), attributes only as properties.

const SVG = "http://www.w3.org/2000/svg";

// h("a", {href: "#/x", className: "y", attrs: {"aria-label": "..."}}, "text", child, ...):
// an element with its children.
export function h(tag, props = {}, ...children) {
  const el = document.createElement(tag);
  setProps(el, props);
  append(el, children);
  return el;
}

// An SVG element; attributes are set with setAttribute (SVG has few properties).
export function s(tag, attrs = {}, ...children) {
  const el = document.createElementNS(SVG, tag);
  for (const [name, value] of Object.entries(attrs)) el.setAttribute(name, String(value));
  append(el, children);
  return el;
}

function setProps(el, props) {
  for (const [name, value] of Object.entries(props)) {
    if (value === undefined || value === null || value === false) continue;
    if (name === "attrs") for (const [key, text] of Object.entries(value)) el.setAttribute(key, String(text));
    else if (name === "dataset") Object.assign(el.dataset, value);
    else if (name.startsWith("on")) el.addEventListener(name.slice(2), value);
    else el[name] = value;
  }
}

export function append(el, children) {
  for (const child of children.flat()) {
    if (child === undefined || child === null || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return el;
}

// Replace everything in el with children.
export function fill(el, ...children) {
  el.replaceChildren();
  return append(el, children);
}

export function byId(id) {
  return document.getElementById(id);
}
