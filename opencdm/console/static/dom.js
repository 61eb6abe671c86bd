// Small DOM helpers. Every text goes in as a text node (never innerHTML), so nothing the API
// returns can become markup or script.

const SVG_NS = "http://www.w3.org/2000/svg";

function append(el, children) {
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return el;
}

function apply(el, attrs) {
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === null || value === undefined || value === false) continue;
    if (key.startsWith("on") && typeof value === "function") el.addEventListener(key.slice(2), value);
    else if (key === "class") el.setAttribute("class", value);
    else if (key === "value" && "value" in el) el.value = value;
    else el.setAttribute(key, value === true ? "" : String(value));
  }
  return el;
}

/** h("button", {type: "button", onclick: f}, "Run") */
export function h(tag, attrs, ...children) {
  return append(apply(document.createElement(tag), attrs), children);
}

/** The same for SVG elements (charts). */
export function s(tag, attrs, ...children) {
  return append(apply(document.createElementNS(SVG_NS, tag), attrs), children);
}

export function replace(el, ...children) {
  el.replaceChildren();
  return append(el, children);
}

/** Say something in the page's polite live region (screen readers announce it). */
export function announce(message, kind = "info") {
  const box = document.getElementById("status");
  box.dataset.kind = kind;
  box.textContent = message;
}

export function num(n) {
  return n === undefined || n === null || n < 0 ? "–" : Number(n).toLocaleString("en-US");
}

export function bytes(n) {
  if (n === undefined || n === null || n < 0) return "–";
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let i = 0;
  while (n >= 1024 && i < units.length - 1) { n /= 1024; i += 1; }
  return `${i ? n.toFixed(1) : n} ${units[i]}`;
}

export function when(ms) {
  if (!ms) return "–";
  return new Date(Number(ms)).toISOString().replace("T", " ").slice(0, 19) + " UTC";
}

export function duration(ms) {
  if (ms === null || ms === undefined || ms < 0) return "–";
  const sec = ms / 1000;
  if (sec < 60) return `${sec.toFixed(1)} s`;
  const m = Math.floor(sec / 60);
  return m < 60 ? `${m} min ${Math.round(sec % 60)} s` : `${Math.floor(m / 60)} h ${m % 60} min`;
}

/** A table in a scrolling wrapper (narrow screens scroll the table, not the page). */
export function table(caption, headers, rows) {
  return h("div", {class: "table-wrap", role: "region", "aria-label": caption, tabindex: "0"},
    h("table", {},
      h("caption", {}, caption),
      h("thead", {}, h("tr", {}, headers.map((text) => h("th", {scope: "col"}, text)))),
      h("tbody", {}, rows.map((cells) => h("tr", {}, cells.map((c) => h("td", {}, c)))))));
}

/** An error box for a failed call: the API's message, in an alert region. */
export function errorBox(err) {
  return h("p", {class: "error", role: "alert"}, err && err.message ? err.message : String(err));
}
