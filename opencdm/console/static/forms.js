// Forms generated from connector input definitions (GET /connectors): one labelled control per
// input, typed by its definition, and the CDM "configs" JSON built back from what was entered.

import {call} from "./api.js";
import {h} from "./dom.js";

/** What the API shows instead of a stored secret, and takes back to mean "keep it". */
const MASK = "******";
let catalog = null;

/** The connector catalog, fetched once per page load. */
export async function connectors() {
  if (!catalog) catalog = await call("GET", "/connectors");
  return catalog;
}

export function connector(doc, name) {
  return (doc.connectors || []).find((c) => c.name === name);
}

export function idFor(prefix, name) {
  return `${prefix}-${name.replace(/[^A-Za-z0-9_-]/g, "-")}`;
}

/** Flat {name: value} of a CDM config-values object. */
export function flat(values) {
  const out = {};
  for (const group of (values && values.configs) || []) {
    for (const input of group.inputs || []) out[input.name] = input.value;
  }
  return out;
}

function control(def, id, value, editing) {
  const common = {id, name: def.name, required: def.required && !(def.sensitive && editing)};
  const text = value === undefined || value === null ? "" : String(value);
  switch (def.type) {
    case "BOOLEAN":
    case "ENUM": {
      const choices = def.type === "BOOLEAN" ? ["true", "false"] : def.values || [];
      // editing: an input the link does not have stays unset (a default could count as a change that
      // makes the server ask for the stored secret again)
      const chosen = text || (editing ? "" : def.default ?? "");
      return h("select", common,
        def.required && chosen ? null : h("option", {value: ""}, "(not set)"),
        choices.map((v) => h("option", {value: String(v), selected: String(v) === chosen}, String(v))));
    }
    case "MAP": {
      const lines = typeof value === "object" && value ? Object.entries(value).map(([k, v]) => `${k}=${v}`) : [];
      return h("textarea", {...common, rows: 3, value: lines.join("\n") || (typeof value === "string" ? text : ""),
        spellcheck: "false"});
    }
    case "INTEGER":
    case "LONG":
      return h("input", {...common, type: "number", step: "1", inputmode: "numeric", value: text,
        placeholder: def.default ?? ""});
    default:
      if (def.sensitive) {
        // a stored secret is never sent to the browser: the field starts empty and, left empty, keeps it
        return h("input", {...common, type: "password", autocomplete: "new-password", value: "",
          placeholder: editing ? "unchanged (leave empty to keep the stored secret)" : ""});
      }
      return h("input", {...common, type: "text", value: text, placeholder: def.default ?? "", spellcheck: "false"});
  }
}

/** A labelled field for ``def``; ``read()`` gives the value to send, or undefined to leave it out. */
export function field(prefix, def, value, editing = false) {
  const id = idFor(prefix, def.name);
  const input = control(def, id, def.sensitive ? undefined : value, editing);
  const hint = def.description ? h("small", {id: `${id}-hint`}, def.description) : null;
  if (hint) input.setAttribute("aria-describedby", hint.id);
  const wrap = h("div", {class: "field"},
    h("label", {for: id}, h("code", {}, def.name), def.required ? h("span", {class: "req"}, " (required)") : null),
    input, hint);
  const read = () => {
    const raw = input.value.trim();
    // an untouched secret goes back as the API's mask: the server keeps the stored one
    if (raw === "" && def.sensitive && editing && value !== undefined && value !== null) return MASK;
    if (raw === "") return undefined;
    if (def.type === "MAP") {
      const map = {};
      for (const line of raw.split("\n")) {
        const at = line.indexOf("=");
        if (line.trim()) map[(at < 0 ? line : line.slice(0, at)).trim()] = at < 0 ? "" : line.slice(at + 1).trim();
      }
      return map;
    }
    return def.sensitive ? input.value : raw;
  };
  return {def, el: wrap, read};
}

/** Fields for a list of definitions, grouped in fieldsets by config group (the part before the dot). */
export function fieldset(prefix, legend, defs, values = {}, editing = false) {
  const fields = defs.map((d) => field(prefix, d, values[d.name], editing));
  const groups = new Map();
  for (const f of fields) {
    const group = f.def.name.split(".")[0];
    if (!groups.has(group)) groups.set(group, []);
    groups.get(group).push(f.el);
  }
  const el = h("div", {class: "inputs"}, [...groups].map(([group, els]) =>
    h("fieldset", {}, h("legend", {}, groups.size > 1 || !legend ? group : legend), els)));
  return {el, fields};
}

/** CDM config-values from fields: ``{"configs": [{"name": group, "inputs": [{name, value}]}]}``. */
export function configValues(fields) {
  const groups = new Map();
  for (const f of fields) {
    const value = f.read();
    if (value === undefined) continue;
    const group = f.def.name.split(".")[0];
    if (!groups.has(group)) groups.set(group, []);
    groups.get(group).push({name: f.def.name, value});
  }
  return {configs: [...groups].map(([name, inputs]) => ({name, inputs}))};
}
