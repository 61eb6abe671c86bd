// Submissions (runs): a job's live status polled every second, with a progress bar, counters and a
// rows/s chart sampled here from the polls; its schedule; the tables of an entire-database run;
// the run history with durations and rows as charts, errors of failed runs, and dirty rows.

import {call, seg} from "./api.js";
import {bars, line} from "./chart.js";
import {announce, bytes, duration, errorBox, h, num, replace, table, when} from "./dom.js";
import {flat} from "./forms.js";
import {start, stop} from "./jobs.js";

const GROUP = "org.apache.sqoop.submission.counter.SqoopCounters";
const ACTIVE = new Set(["BOOTING", "RUNNING"]);

function counters(sub) {
  return (sub.counters && sub.counters[GROUP]) || {};
}

function took(sub) {
  if (!sub["execute-date"]) return null;
  const end = ACTIVE.has(sub.status) ? Date.now() : sub["last-update-date"];
  return end - sub["execute-date"];
}

function failure(sub) {
  if (sub.status !== "FAILED") return null;
  return h("div", {class: "failure"}, h("p", {class: "error"}, sub["error-summary"] || "The run failed."),
    sub["error-details"] ? h("details", {}, h("summary", {}, "Error details"),
      h("pre", {}, sub["error-details"])) : null);
}

function subJobs(sub) {
  const items = sub["sub-jobs"];
  if (!items || !items.length) return null;
  return table("Tables of this entire-database run", ["Table", "Status", "Progress", "Rows read", "Rows written",
    "Dirty rows", "Error"], items.map((t) => [t.name, h("span", {class: `badge ${t.status}`}, t.status),
    `${Math.max(0, t.progress ?? 0)} %`, num(t.rows_read), num(t.rows_written), num(t.rows_dirty), t.error || ""]));
}

function schedule(job) {
  const inputs = Object.entries(flat(job["driver-config-values"])).filter(([k]) => k.startsWith("schedulerConfig."));
  if (!inputs.length) return h("p", {}, "No schedule: the job runs when started.");
  return table("Schedule (schedulerConfig)", ["Input", "Value"], inputs.map(([k, v]) => [h("code", {}, k),
    String(v)]));
}

async function dirtyRows(ctx, name, sid, area) {
  replace(area, h("p", {}, "Loading dirty rows…"));
  try {
    const doc = await call("GET", `/clusters/${seg(ctx.cluster)}/cdm/job/${seg(name)}/dirty-data?submission-id=${sid}`);
    const rows = doc["dirty-data"] || [];
    replace(area, h("h3", {id: "dirty-title"}, `Dirty rows of submission ${sid}`),
      h("p", {}, `${num(doc.total)} recorded${doc.truncated ? `, the first ${rows.length} shown` : ""}.`),
      table(`Dirty rows of submission ${sid}`, ["Partition", "Reason", "Row"], rows.map((r) => [
        String(r.partition), r.reason, h("code", {}, JSON.stringify(r.row))])));
  } catch (err) {
    replace(area, errorBox(err));
  }
}

function historyView(ctx, name, subs, dirtyArea) {
  const oldest = [...subs].reverse();
  return [
    h("div", {class: "charts"},
      bars(oldest.map((s) => ({label: `#${s["submission-id"]}`, value: counters(s).ROWS_WRITTEN || 0, kind: s.status})),
        "Rows written per run, oldest first", "runs", "rows"),
      bars(oldest.map((s) => ({label: `#${s["submission-id"]}`, value: (took(s) || 0) / 1000, kind: s.status})),
        "Duration per run in seconds, oldest first", "runs", "s")),
    table(`Runs of job ${name}`, ["Submission", "Status", "Started", "Duration", "Rows read", "Rows written",
      "Dirty rows", "Error"], subs.map((s) => {
      const dirty = counters(s).ROWS_WRITTEN_SKIPPED || 0;
      return [String(s["submission-id"]), h("span", {class: `badge ${s.status}`}, s.status), when(s["execute-date"]),
        duration(took(s)), num(counters(s).ROWS_READ), num(counters(s).ROWS_WRITTEN),
        dirty > 0 ? h("button", {type: "button", onclick: () => dirtyRows(ctx, name, s["submission-id"], dirtyArea)},
          `Show ${num(dirty)} dirty rows`) : "0",
        failure(s)];
    })),
  ];
}

export async function job(ctx) {
  const name = ctx.params[0];
  const base = `/clusters/${seg(ctx.cluster)}/cdm`;
  const found = (await call("GET", `${base}/job/${seg(name)}`)).jobs[0];
  const runButton = h("button", {type: "button", id: "job-run", onclick: async () => {
    if (await start(ctx, name)) poll();
  }}, "Run");
  const stopButton = h("button", {type: "button", id: "job-stop", onclick: async () => {
    await stop(ctx, name);
    poll();
  }}, "Stop");
  const statusText = h("p", {id: "run-status", class: "run-status"}, "Loading…");
  const progress = h("progress", {id: "run-progress", max: "100", value: "0"});
  const percent = h("span", {id: "run-percent"}, "0 %");
  const counterList = h("dl", {class: "counters", id: "run-counters"});
  const chartArea = h("div", {class: "charts"});
  const errorArea = h("div", {id: "run-error"});
  const tablesArea = h("div", {id: "run-tables"});
  const historyArea = h("div", {id: "run-history"});
  const dirtyArea = h("div", {id: "dirty-rows", "aria-live": "polite"});
  replace(ctx.main,
    h("h1", {}, `Job ${name}`),
    h("p", {}, `${found.job_type} · ${found["from-link-name"]} (${found["from-connector-name"]}) → `,
      `${found["to-link-name"]} (${found["to-connector-name"]})`),
    h("div", {class: "buttons"},
      runButton, stopButton,
      h("a", {href: `#/jobs/json?clone=${encodeURIComponent(name)}`, class: "button secondary"}, "Clone"),
      h("a", {href: "#/jobs", class: "button secondary"}, "All jobs")),
    h("section", {"aria-labelledby": "live-title"}, h("h2", {id: "live-title"}, "Latest run"),
      h("div", {role: "status", "aria-live": "polite"}, statusText),
      h("div", {class: "progress"}, h("label", {for: "run-progress"}, "Progress"), progress, percent),
      counterList, chartArea, errorArea, tablesArea),
    h("section", {"aria-labelledby": "sched-title"}, h("h2", {id: "sched-title"}, "Schedule"), schedule(found)),
    h("section", {"aria-labelledby": "hist-title"}, h("h2", {id: "hist-title"}, "Run history"), historyArea,
      dirtyArea));

  let samples = [], shownId = null, lastKey = "", lastTables = "";
  const loadHistory = async () => {
    const doc = await call("GET", `${base}/submissions?jname=${encodeURIComponent(name)}&page_size=20`);
    const subs = doc.submissions || [];
    replace(historyArea, subs.length ? historyView(ctx, name, subs, dirtyArea) : h("p", {}, "No run yet."));
  };
  const show = (sub) => {
    const c = counters(sub);
    const id = sub["submission-id"];
    // samples on the server's clock: the run starts at 0 rows, each poll adds the counters as of their
    // last write, so even a run shorter than one poll gets its average rate
    if (id !== shownId) { samples = sub["execute-date"] ? [[sub["execute-date"], 0]] : []; shownId = id; }
    const at = sub["last-update-date"];
    if (at && (!samples.length || at > samples[samples.length - 1][0])) samples.push([at, c.ROWS_READ || 0]);
    runButton.disabled = ACTIVE.has(sub.status);
    stopButton.disabled = !ACTIVE.has(sub.status);
    const pct = sub.status === "SUCCEEDED" ? 100 : Math.max(0, Math.min(100, Number(sub.progress) || 0));
    progress.value = pct;
    percent.textContent = `${Math.round(pct)} %`;
    const text = id ? `Submission ${id}: ${sub.status}` : `Never run (${sub.status})`;
    if (statusText.textContent !== text) statusText.textContent = text;
    statusText.dataset.status = sub.status;
    replace(counterList, [["Rows read", num(c.ROWS_READ)], ["Rows written", num(c.ROWS_WRITTEN)],
      ["Bytes read", bytes(c.BYTES_READ)], ["Bytes written", bytes(c.BYTES_WRITTEN)],
      ["Files read", num(c.FILES_READ)], ["Dirty rows", num(c.ROWS_WRITTEN_SKIPPED)],
      ["Duration", duration(took(sub))]].map(([k, v]) => h("div", {}, h("dt", {}, k),
      h("dd", {"data-counter": k}, v))));
    const rates = [];
    for (let n = 1; n < samples.length; n += 1) {
      const dt = (samples[n][0] - samples[n - 1][0]) / 1000;
      const rows = Math.max(0, samples[n][1] - samples[n - 1][1]);
      if (dt > 0) rates.push([(samples[n][0] - samples[0][0]) / 1000, rows / dt]);
    }
    replace(chartArea, line(rates, "Rows read per second during this run", "seconds since start", "rows/s"));
    const key = `${id}:${sub.status}`;
    if (key !== lastKey) {
      replace(errorArea, failure(sub));
      if (lastKey) announce(text, sub.status === "FAILED" ? "error" : "info");
      lastKey = key;
      loadHistory().catch(() => {});
    }
    const tables = JSON.stringify(sub["sub-jobs"] || null);
    if (tables !== lastTables) { replace(tablesArea, subJobs(sub)); lastTables = tables; }
  };
  let busy = false;
  const poll = async () => {
    if (busy) return;
    busy = true;
    try {
      show((await call("GET", `${base}/job/${seg(name)}/status`)).submissions[0]);
    } catch (err) {
      if (err.status !== 401) replace(errorArea, errorBox(err));
    } finally {
      busy = false;
    }
  };
  await poll();
  const timer = setInterval(poll, 1000);
  return () => clearInterval(timer);
}

export async function history(ctx) {
  if (!ctx.cluster) {
    replace(ctx.main, h("h1", {}, "Submissions"), h("p", {}, "Create or pick a cluster first."));
    return null;
  }
  const doc = await call("GET", `/clusters/${seg(ctx.cluster)}/cdm/submissions?page_size=50`);
  const subs = doc.submissions || [];
  replace(ctx.main, h("h1", {}, "Submissions"),
    subs.length ? table("Latest runs in this cluster", ["Submission", "Job", "Status", "Started", "Duration",
      "Rows written", "Error"], subs.map((s) => [String(s["submission-id"]),
      h("a", {href: `#/jobs/view/${encodeURIComponent(s["job-name"])}`}, s["job-name"]),
      h("span", {class: `badge ${s.status}`}, s.status), when(s["execute-date"]), duration(took(s)),
      num(counters(s).ROWS_WRITTEN), s["error-summary"] || ""]))
      : h("p", {}, "No run in this cluster yet."));
  return null;
}
