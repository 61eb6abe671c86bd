// Clusters: status, where runs execute (backend), how full they are (capacity), start/stop/restart.

import {call, seg} from "./api.js";
import {announce, errorBox, h, replace, table} from "./dom.js";

const ACTIONS = {
  start: {start: {}},
  stop: {stop: {stopMode: "IMMEDIATELY"}},
  restart: {restart: {restartMode: "IMMEDIATELY", restartLevel: "SERVICE", type: "cdm", instance: "", group: ""}},
};
const SETTLED = new Set(["200", "300", "303", "800", "900"]);

function backend(c) {
  const b = c.backend || {type: "local"};
  return b.type === "dask" ? `Dask ${b.address}` : "local processes";
}

function capacity(c) {
  const cap = c.capacity || {};
  return `${cap["in-use"] ?? 0} of ${cap.slots ?? 0} slots in use · ${cap.waiting ?? 0} waiting · ` +
    `${cap.runs ?? 0} runs`;
}

function actionButtons(c, act) {
  const running = c.status === "200";
  return h("div", {class: "buttons"},
    h("button", {type: "button", disabled: running, onclick: () => act(c, "start"),
      "aria-label": `Start cluster ${c.name}`}, "Start"),
    h("button", {type: "button", disabled: !running, onclick: () => act(c, "stop"),
      "aria-label": `Stop cluster ${c.name}`}, "Stop"),
    h("button", {type: "button", disabled: !running, onclick: () => act(c, "restart"),
      "aria-label": `Restart cluster ${c.name}`}, "Restart"));
}

function createForm(after) {
  const name = h("input", {id: "cluster-name", required: true,
    "aria-describedby": "cluster-name-hint"});
  const form = h("form", {class: "card inline", "aria-label": "Create a cluster"},
    h("div", {class: "field"}, h("label", {for: "cluster-name"}, "New cluster name"), name,
      h("small", {id: "cluster-name-hint"}, "Letters, digits, _ - . (at most 64)")),
    h("button", {type: "submit"}, "Create cluster"));
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    try {
      await call("POST", "/clusters", {cluster: {name: name.value, vpcId: "local"}});
      announce(`Cluster ${name.value} is being created.`);
      name.value = "";
      await after();
    } catch (err) {
      announce(err.message, "error");
    }
  });
  return form;
}

export async function render(ctx) {
  const area = h("div", {});
  let timer = null;
  const load = async () => {
    let found;
    try {
      found = (await call("GET", "/clusters")).clusters || [];
    } catch (err) {
      if (err.status !== 401) replace(area, errorBox(err));
      return;
    }
    const act = async (c, action) => {
      try {
        await call("POST", `/clusters/${seg(c.id)}/action`, ACTIONS[action]);
        announce(`Cluster ${c.name}: ${action} requested.`);
      } catch (err) {
        announce(`Cluster ${c.name}: ${err.message}`, "error");
      }
      await load();
    };
    const focused = area.contains(document.activeElement) ? document.activeElement.getAttribute("aria-label") : null;
    replace(area, found.length ? table("Clusters of this project", ["Name", "Status", "Backend", "Capacity", "Actions"],
      found.map((c) => [
        h("span", {class: "name"}, c.name),
        h("span", {class: `badge s${c.status}`}, `${c.statusDetail} (${c.status})`),
        backend(c), capacity(c), actionButtons(c, act)]))
      : h("p", {}, "No cluster yet: create one below."));
    if (focused) {
      const again = [...area.querySelectorAll("button")].find((b) => b.getAttribute("aria-label") === focused);
      if (again) again.focus();
    }
    if (found.some((c) => !SETTLED.has(String(c.status)))) await ctx.refreshClusters();
  };
  replace(ctx.main, h("h1", {}, "Clusters"), area, createForm(async () => { await load(); await ctx.refreshClusters(); }));
  await load();
  timer = setInterval(load, 3000);
  return () => clearInterval(timer);
}
