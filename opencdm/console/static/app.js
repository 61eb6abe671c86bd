// The shell: login, navigation, the cluster every page works in, and a hash router.

import {call, login, logout, session} from "./api.js";
import {announce, errorBox, h, replace} from "./dom.js";
import * as clusters from "./clusters.js";
import * as links from "./links.js";
import * as jobs from "./jobs.js";
import * as runs from "./runs.js";

const CLUSTER_KEY = "opencdm.cluster";
const main = document.getElementById("main");
let cleanup = null;

const ROUTES = [
  [/^\/?$|^\/clusters$/, clusters.render],
  [/^\/links$/, links.list],
  [/^\/links\/new$/, links.form],
  [/^\/links\/edit\/(.+)$/, links.form],
  [/^\/jobs$/, jobs.list],
  [/^\/jobs\/new$/, jobs.form],
  [/^\/jobs\/json$/, jobs.json],
  [/^\/jobs\/view\/(.+)$/, runs.job],
  [/^\/submissions$/, runs.history],
];

function cluster() {
  return sessionStorage.getItem(CLUSTER_KEY) || "";
}

async function fillClusters() {
  const pick = document.getElementById("cluster-pick");
  const found = (await call("GET", "/clusters")).clusters || [];
  let current = cluster();
  if (!found.some((c) => c.id === current)) current = found.length ? found[0].id : "";
  sessionStorage.setItem(CLUSTER_KEY, current);
  replace(pick, found.length ? found.map((c) => h("option", {value: c.id, selected: c.id === current}, c.name))
    : h("option", {value: ""}, "(no cluster yet)"));
}

function loginPage(message) {
  document.getElementById("nav").hidden = true;
  document.getElementById("session").hidden = true;
  const user = h("input", {id: "login-user", name: "username", autocomplete: "username", required: true});
  const password = h("input", {id: "login-password", name: "password", type: "password",
    autocomplete: "current-password", required: true});
  const project = h("input", {id: "login-project", name: "project", required: true, spellcheck: "false"});
  const problem = h("p", {class: "error", id: "login-error", role: "alert"}, message || "");
  const button = h("button", {type: "submit"}, "Log in");
  const form = h("form", {class: "card login", "aria-labelledby": "login-title"},
    h("h1", {id: "login-title"}, "Log in to opencdm"),
    h("div", {class: "field"}, h("label", {for: "login-user"}, "User name"), user),
    h("div", {class: "field"}, h("label", {for: "login-password"}, "Password"), password),
    h("div", {class: "field"}, h("label", {for: "login-project"}, "Project id"), project),
    problem, button);
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    button.disabled = true;
    problem.textContent = "";
    try {
      await login(user.value, password.value, project.value.trim());
      password.value = "";
      await start();
    } catch (err) {
      problem.textContent = err.message;
    } finally {
      button.disabled = false;
    }
  });
  replace(main, form);
  user.focus();
}

async function route() {
  if (cleanup) { cleanup(); cleanup = null; }
  if (!session()) { loginPage(); return; }
  const hash = location.hash.replace(/^#/, "");
  const [path, query] = hash.split("?");
  for (const [pattern, page] of ROUTES) {
    const match = pattern.exec(path);
    if (!match) continue;
    for (const a of document.querySelectorAll("#nav a")) {
      const here = path.startsWith(a.getAttribute("href").slice(1)) || (path.replace(/^\/?$/, "") === "" &&
        a.getAttribute("href") === "#/clusters");
      if (here) a.setAttribute("aria-current", "page"); else a.removeAttribute("aria-current");
    }
    const ctx = {main, cluster: cluster(), params: match.slice(1).map(decodeURIComponent),
      query: new URLSearchParams(query || ""), go: (to) => { location.hash = to; }, refreshClusters: fillClusters};
    try {
      cleanup = (await page(ctx)) || null;
    } catch (err) {
      if (err.status !== 401) replace(main, errorBox(err));
    }
    return;
  }
  if (!main.childElementCount) location.hash = "#/clusters"; // e.g. the skip link's #main: keep the page
}

async function start() {
  const current = session();
  document.getElementById("nav").hidden = false;
  document.getElementById("session").hidden = false;
  const who = document.getElementById("who");
  const project = current.project.length > 12 ? `${current.project.slice(0, 8)}…` : current.project;
  who.textContent = `${current.user} · project ${project}`;
  who.title = `Project ${current.project}`;
  await fillClusters();
  if (!location.hash.startsWith("#/")) location.hash = "#/clusters";
  else await route();
}

document.getElementById("cluster-pick").addEventListener("change", (event) => {
  sessionStorage.setItem(CLUSTER_KEY, event.target.value);
  route();
});
document.getElementById("logout").addEventListener("click", async () => {
  await logout();
  announce("Logged out.");
  history.replaceState(null, "", location.pathname);
  loginPage();
});
window.addEventListener("opencdm:expired", () => {
  if (cleanup) { cleanup(); cleanup = null; }
  announce("Session expired: log in again.", "error");
  loginPage("Session expired: log in again.");
});
window.addEventListener("hashchange", () => {
  if (location.hash.startsWith("#/")) {
    route().then(() => main.focus({preventScroll: true}));
  }
});

if (session()) start().catch((err) => { if (err.status !== 401) replace(main, errorBox(err)); });
else loginPage();
