// Jobs of the selected cluster: list, run, stop, create from a form generated from the connectors'
// from/to inputs and the job inputs, create from pasted CDM JSON, and clone.

import {call, seg} from "./api.js";
import {announce, errorBox, h, num, replace, table, when} from "./dom.js";
import {configValues, connector, connectors, fieldset} from "./forms.js";

/** The fields a client sends for a job (what a clone keeps). */
const JOB_KEYS = ["job_type", "name", "from-connector-name", "to-connector-name", "from-link-name", "to-link-name",
  "from-config-values", "to-config-values", "driver-config-values"];

function base(ctx) {
  return `/clusters/${seg(ctx.cluster)}/cdm`;
}

function noCluster(ctx) {
  replace(ctx.main, h("h1", {}, "Jobs"), h("p", {}, "Create or pick a cluster first: jobs live in a cluster."),
    h("a", {href: "#/clusters"}, "Go to clusters"));
}

export async function start(ctx, name) {
  try {
    await call("PUT", `${base(ctx)}/job/${seg(name)}/start`, {});
    announce(`Job ${name} started.`);
    return true;
  } catch (err) {
    announce(`Job ${name}: ${err.message}`, "error");
    return false;
  }
}

export async function stop(ctx, name) {
  try {
    await call("PUT", `${base(ctx)}/job/${seg(name)}/stop`);
    announce(`Job ${name} stopped.`);
  } catch (err) {
    announce(`Job ${name}: ${err.message}`, "error");
  }
}

export async function list(ctx) {
  if (!ctx.cluster) return noCluster(ctx);
  const pages = await Promise.all(["NORMAL_JOB", "BATCH_JOB"].map((type) =>
    call("GET", `${base(ctx)}/job/all?jobType=${type}&page_size=100`)));
  const found = pages.flatMap((p) => p.jobs || []).sort((a, b) => a.name.localeCompare(b.name));
  replace(ctx.main, h("h1", {}, "Jobs"),
    h("p", {class: "buttons"}, h("a", {href: "#/jobs/new", class: "button"}, "New job"),
      h("a", {href: "#/jobs/json", class: "button secondary"}, "New job from CDM JSON")),
    found.length ? table("Jobs of this cluster", ["Name", "Type", "From → to", "Last status", "Rows written",
      "Actions"], found.map((j) => [
      h("a", {href: `#/jobs/view/${encodeURIComponent(j.name)}`}, j.name), j.job_type,
      `${j["from-link-name"]} → ${j["to-link-name"]}`, h("span", {class: `badge ${j.status}`}, j.status),
      num(j.rows_written),
      h("div", {class: "buttons"},
        h("button", {type: "button", "aria-label": `Run job ${j.name}`, onclick: async () => {
          if (await start(ctx, j.name)) ctx.go(`#/jobs/view/${encodeURIComponent(j.name)}`);
        }}, "Run"),
        h("button", {type: "button", "aria-label": `Stop job ${j.name}`, onclick: async () => {
          await stop(ctx, j.name);
          await list(ctx);
        }}, "Stop"),
        h("a", {href: `#/jobs/json?clone=${encodeURIComponent(j.name)}`, class: "button secondary",
          "aria-label": `Clone job ${j.name}`}, "Clone"))]))
      : h("p", {}, "No job in this cluster yet."),
    h("p", {class: "muted"}, `Updated ${when(Date.now())}`));
}

async function create(ctx, body, result) {
  result.className = "";
  result.textContent = "Creating…";
  try {
    const made = await call("POST", `${base(ctx)}/job`, body);
    announce(`Job ${made.name} created.`);
    ctx.go(`#/jobs/view/${encodeURIComponent(made.name)}`);
  } catch (err) {
    result.className = "error";
    result.textContent = err.message;
  }
}

export async function form(ctx) {
  if (!ctx.cluster) return noCluster(ctx);
  const [doc, linkDoc] = await Promise.all([connectors(), call("GET", `${base(ctx)}/link`)]);
  const all = linkDoc.links || [];
  const able = (side) => all.filter((l) => (connector(doc, l["connector-name"])?.directions || []).includes(side));
  const picker = (id, side) => h("select", {id, required: true}, h("option", {value: ""}, "(choose a link)"),
    able(side).map((l) => h("option", {value: l.name}, `${l.name} (${l["connector-name"]})`)));
  const name = h("input", {id: "job-name", required: true, spellcheck: "false"});
  const type = h("select", {id: "job-type"}, h("option", {value: "NORMAL_JOB"}, "NORMAL_JOB (one table or path)"),
    h("option", {value: "BATCH_JOB"}, "BATCH_JOB (entire database)"));
  const fromPick = picker("job-from-link", "from");
  const toPick = picker("job-to-link", "to");
  const fromArea = h("div", {}), toArea = h("div", {});
  const sets = {from: [], to: []};
  const linkOf = (n) => all.find((l) => l.name === n);
  const showSide = (side, pick, area) => {
    const link = linkOf(pick.value);
    const c = link && connector(doc, link["connector-name"]);
    const set = fieldset(`job-${side}`, `${side}JobConfig`, c ? c[side] || [] : []);
    sets[side] = set.fields;
    replace(area, c ? set.el : h("p", {class: "muted"}, `Choose the ${side} link to see its inputs.`));
  };
  fromPick.addEventListener("change", () => showSide("from", fromPick, fromArea));
  toPick.addEventListener("change", () => showSide("to", toPick, toArea));
  showSide("from", fromPick, fromArea);
  showSide("to", toPick, toArea);
  const driver = fieldset("job-driver", "throttlingConfig", doc.job || []);
  const result = h("p", {id: "job-result", role: "status", "aria-live": "polite"});
  const formEl = h("form", {class: "card", "aria-labelledby": "job-title"},
    h("h1", {id: "job-title"}, "New job"),
    h("div", {class: "field"}, h("label", {for: "job-name"}, "Job name"), name),
    h("div", {class: "field"}, h("label", {for: "job-type"}, "Job type"), type),
    h("div", {class: "two"},
      h("section", {"aria-labelledby": "from-title"}, h("h2", {id: "from-title"}, "From"),
        h("div", {class: "field"}, h("label", {for: "job-from-link"}, "From link"), fromPick), fromArea),
      h("section", {"aria-labelledby": "to-title"}, h("h2", {id: "to-title"}, "To"),
        h("div", {class: "field"}, h("label", {for: "job-to-link"}, "To link"), toPick), toArea)),
    h("details", {}, h("summary", {}, "Job options (throttling, schedule, retries)"), driver.el),
    result,
    h("div", {class: "buttons"}, h("button", {type: "submit", id: "job-save"}, "Create job"),
      h("a", {href: "#/jobs", class: "button secondary"}, "Cancel")));
  formEl.addEventListener("submit", (event) => {
    event.preventDefault();
    const from = linkOf(fromPick.value), to = linkOf(toPick.value);
    create(ctx, {jobs: [{job_type: type.value, name: name.value.trim(),
      "from-connector-name": from["connector-name"], "to-connector-name": to["connector-name"],
      "from-link-name": from.name, "to-link-name": to.name,
      "from-config-values": configValues(sets.from), "to-config-values": configValues(sets.to),
      "driver-config-values": configValues(driver.fields)}]}, result);
  });
  replace(ctx.main, formEl);
  if (!all.length) formEl.prepend(errorBox("This cluster has no link yet: create the links first."));
}

/** Create from pasted CDM JSON: {"jobs": [...]}, one job object, or a list of them. ?clone=NAME prefills. */
export async function json(ctx) {
  if (!ctx.cluster) return noCluster(ctx);
  let text = "";
  const clone = ctx.query.get("clone");
  if (clone) {
    const found = (await call("GET", `${base(ctx)}/job/${seg(clone)}`)).jobs[0];
    const copy = Object.fromEntries(JOB_KEYS.filter((k) => k in found).map((k) => [k, found[k]]));
    copy.name = `${clone}_copy`;
    text = JSON.stringify({jobs: [copy]}, null, 2);
  }
  const area = h("textarea", {id: "job-json", rows: 18, spellcheck: "false", required: true, value: text,
    "aria-describedby": "job-json-hint"});
  const result = h("p", {id: "job-json-result", role: "status", "aria-live": "polite"});
  const formEl = h("form", {class: "card", "aria-labelledby": "json-title"},
    h("h1", {id: "json-title"}, clone ? `Clone job ${clone}` : "New job from CDM JSON"),
    h("div", {class: "field"}, h("label", {for: "job-json"}, "CDM job JSON"), area,
      h("small", {id: "job-json-hint"}, 'The body of CDM\'s create-job call ({"jobs": [...]}), or one job object.')),
    result,
    h("div", {class: "buttons"}, h("button", {type: "submit", id: "job-json-save"}, "Create job"),
      h("a", {href: "#/jobs", class: "button secondary"}, "Cancel")));
  formEl.addEventListener("submit", (event) => {
    event.preventDefault();
    let body;
    try {
      body = JSON.parse(area.value);
    } catch (err) {
      result.className = "error";
      result.textContent = `Not valid JSON: ${err.message}`;
      return;
    }
    if (Array.isArray(body)) body = {jobs: body};
    else if (!body.jobs) body = {jobs: [body]};
    create(ctx, body, result);
  });
  replace(ctx.main, formEl);
}
