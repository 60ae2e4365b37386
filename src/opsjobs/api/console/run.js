// Running an operation: a form asking for the arguments the run takes (GET .../arguments:
// those declared, and the {{args.NAME}} its templates use), then the new job's page.
// Values are checked by the API, which names the argument it refuses. The parts every form
// that runs an operation shares (this one, "Run on many", a schedule's) are here too.

import { entityPath, get, post, seg } from "./api.js";
import { byId, fill, h } from "./dom.js";
import { entityName, failed } from "./ui.js";

export function argumentField(arg) {
  const id = `arg-${arg.name}`;
  const hint = [arg.description, arg.type && arg.declared ? arg.type : null, arg.required ? "required" : null].filter(Boolean).join(" · ");
  let input;
  if (Array.isArray(arg.choices) && arg.choices.length) {
    input = h("select", { id, name: arg.name }, arg.required ? null : h("option", { value: "" }, "—"), arg.choices.map((c) => h("option", { value: JSON.stringify(c), selected: c === arg.default }, String(c))));
  } else if (arg.type === "boolean") {
    input = h("input", { id, name: arg.name, type: "checkbox", checked: arg.default === true });
  } else {
    const numeric = arg.type === "integer" || arg.type === "number";
    input = h("input", { id, name: arg.name, type: numeric ? "number" : "text", step: arg.type === "number" ? "any" : undefined, value: arg.default ?? "", required: !!arg.required && arg.default === undefined, maxLength: arg.maxLength || undefined, autocomplete: "off" });
  }
  return h("div", {}, h("label", { htmlFor: id }, arg.name, hint ? h("span", { className: "hint" }, ` — ${hint}`) : null), input);
}

// The arguments object from the form: empty optional fields are left out.
export function argumentValues(args, form) {
  const body = {};
  for (const arg of args) {
    const input = form.elements.namedItem(arg.name);
    if (arg.type === "boolean" && !(Array.isArray(arg.choices) && arg.choices.length)) {
      body[arg.name] = input.checked;
    } else if (input.tagName === "SELECT") {
      if (input.value !== "") body[arg.name] = JSON.parse(input.value);
    } else if (input.value !== "") {
      body[arg.name] = arg.type === "integer" || arg.type === "number" ? Number(input.value) : input.value;
    }
  }
  return body;
}

// What a form that runs an operation starts from: the page says "Loading…" while the
// operation (by its entity's list: its name and description) and its arguments are read.
export async function operationToRun(kind, id, operationId) {
  const base = `${entityPath(kind, id)}/operations`;
  fill(byId("main"), h("p", { className: "muted" }, "Loading…"));
  const [ops, args] = await Promise.all([get(base), get(`${base}/${seg(operationId)}/arguments`)]);
  return { base, op: ops.find((o) => o.id === operationId) || { name: operationId }, args };
}

// The arguments' fields, under the heading when the form asks for more than them.
export function argumentFields(args, heading) {
  if (!args.length) return h("p", { className: "muted" }, "This operation takes no arguments.");
  const fields = args.map(argumentField);
  return heading ? [h("h2", {}, heading), ...fields] : fields;
}

// The form's submit button, and the way back to the entity.
export function formActions(button, kind, id) {
  return h("div", { className: "actions" }, button, h("a", { className: "button", href: `#/${kind}/${seg(id)}` }, "Back"));
}

// On submit, send() with the button disabled meanwhile: the page goes where it answers;
// a refusal is shown and the button enabled again.
export function onSubmit(form, button, send) {
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    button.disabled = true;
    try {
      location.hash = await send();
    } catch (error) {
      failed(error);
      button.disabled = false;
    }
  });
}

export async function runPage(kind, id, operationId) {
  const { base, op, args } = await operationToRun(kind, id, operationId);
  document.title = `Run ${op.name} · opsjobs console`;
  const button = h("button", { type: "submit", className: "primary", id: "run" }, "Run");
  // One key per form shown: a double submit runs once (the API answers the first job).
  const key = crypto.randomUUID();
  const form = h("form", { id: "run-form" }, argumentFields(args), formActions(button, kind, id));
  onSubmit(form, button, async () => {
    const jobId = await post(`${base}/${seg(operationId)}/execute`, argumentValues(args, form), { "Idempotency-Key": key });
    return `#/job/${seg(jobId)}`;
  });
  fill(
    byId("main"),
    h("h1", {}, `Run “${op.name}”`),
    h("p", {}, "On ", h("a", { href: `#/${kind}/${seg(id)}` }, entityName(kind, id)), op.description ? ` — ${op.description}` : ""),
    form,
  );
  const first = form.querySelector("input, select, button");
  if (first) first.focus();
}
