// Links of the selected cluster: list, create and edit from forms generated from the connector's
// link inputs, and "Test connection" (POST .../link?validate=true creates nothing).

import {call, seg} from "./api.js";
import {announce, errorBox, h, replace, table, when} from "./dom.js";
import {configValues, connector, connectors, fieldset, flat} from "./forms.js";

function noCluster(ctx) {
  replace(ctx.main, h("h1", {}, "Links"), h("p", {}, "Create or pick a cluster first: links live in a cluster."),
    h("a", {href: "#/clusters"}, "Go to clusters"));
}

export async function list(ctx) {
  if (!ctx.cluster) return noCluster(ctx);
  const found = (await call("GET", `/clusters/${seg(ctx.cluster)}/cdm/link`)).links || [];
  replace(ctx.main, h("h1", {}, "Links"),
    h("p", {}, h("a", {href: "#/links/new", class: "button"}, "New link")),
    found.length ? table("Links of this cluster", ["Name", "Connector", "Updated", "Actions"], found.map((l) => [
      h("span", {class: "name"}, l.name), l["connector-name"], when(l["update-date"]),
      h("div", {class: "buttons"},
        h("a", {href: `#/links/edit/${encodeURIComponent(l.name)}`, class: "button",
          "aria-label": `Edit link ${l.name}`}, "Edit"),
        h("button", {type: "button", "aria-label": `Delete link ${l.name}`, onclick: async () => {
          if (!window.confirm(`Delete link ${l.name}?`)) return;
          try {
            await call("DELETE", `/clusters/${seg(ctx.cluster)}/cdm/link/${seg(l.name)}`);
            announce(`Link ${l.name} deleted.`);
            await list(ctx);
          } catch (err) {
            announce(err.message, "error");
          }
        }}, "Delete"))]))
      : h("p", {}, "No link in this cluster yet."));
}

function resultText(err) {
  const rows = err.body && err.body["validation-result"];
  const detail = rows && rows[0] && rows[0].linkConfig ? rows[0].linkConfig.map((r) => r.message).join("; ") : "";
  return detail || err.message;
}

export async function form(ctx) {
  if (!ctx.cluster) return noCluster(ctx);
  const editing = ctx.params[0];
  const doc = await connectors();
  let existing = null;
  if (editing) {
    existing = (await call("GET", `/clusters/${seg(ctx.cluster)}/cdm/link/${seg(editing)}`)).links[0];
  }
  const usable = (doc.connectors || []).filter((c) => (c.link || []).length || c.name === existing?.["connector-name"]);
  const name = h("input", {id: "link-name", required: true, value: editing || "", readonly: Boolean(editing),
    spellcheck: "false"});
  const kind = h("select", {id: "link-connector", required: true, disabled: Boolean(editing)},
    h("option", {value: ""}, "(choose a connector)"),
    usable.map((c) => h("option", {value: c.name, selected: c.name === existing?.["connector-name"]}, c.name)));
  const inputsArea = h("div", {});
  const result = h("p", {id: "link-result", role: "status", "aria-live": "polite"});
  let fields = [];
  const showInputs = () => {
    const c = connector(doc, kind.value);
    const values = existing ? flat(existing["link-config-values"]) : {};
    const set = fieldset("link", "linkConfig", c ? c.link || [] : [], values, Boolean(editing));
    fields = set.fields;
    replace(inputsArea, c ? set.el : h("p", {}, "Choose a connector to see its inputs."));
  };
  kind.addEventListener("change", showInputs);
  showInputs();
  const body = () => ({links: [{name: name.value.trim(), "connector-name": kind.value, enabled: true,
    "link-config-values": configValues(fields)}]});
  const send = async (validateOnly) => {
    const base = `/clusters/${seg(ctx.cluster)}/cdm/link`;
    if (validateOnly && editing && fields.some((f) => f.def.sensitive && f.read() === "******")) {
      result.className = "";
      result.textContent = "The stored secret never leaves the server: type it again to test without saving " +
        "(Save checks the connection with the stored secret).";
      return;
    }
    result.className = "";
    result.textContent = validateOnly ? "Testing the connection…" : "Saving…";
    try {
      if (validateOnly) await call("POST", `${base}?validate=true`, body());
      else if (editing) await call("PUT", `${base}/${seg(editing)}`, body());
      else await call("POST", base, body());
      result.className = "ok";
      result.textContent = validateOnly ? "Connection OK." : `Link ${name.value} saved.`;
      if (!validateOnly) {
        announce(`Link ${name.value} saved.`);
        ctx.go("#/links");
      }
    } catch (err) {
      result.className = "error";
      result.textContent = resultText(err);
    }
  };
  const formEl = h("form", {class: "card", "aria-labelledby": "link-title", novalidate: false},
    h("h1", {id: "link-title"}, editing ? `Edit link ${editing}` : "New link"),
    h("div", {class: "field"}, h("label", {for: "link-name"}, "Link name"), name),
    h("div", {class: "field"}, h("label", {for: "link-connector"}, "Connector"), kind),
    inputsArea, result,
    h("div", {class: "buttons"},
      h("button", {type: "button", id: "link-test", onclick: () => formEl.reportValidity() && send(true)},
        "Test connection"),
      h("button", {type: "submit", id: "link-save"}, "Save"),
      h("a", {href: "#/links", class: "button secondary"}, "Cancel")));
  formEl.addEventListener("submit", (event) => { event.preventDefault(); send(false); });
  replace(ctx.main, formEl);
  if (doc.connectors === undefined) replace(inputsArea, errorBox("The server lists no connectors."));
}
