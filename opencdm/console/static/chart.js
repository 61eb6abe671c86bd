// Inline SVG charts drawn here (no library): a line over time and a bar per item. Each chart is
// an image with a text alternative; the numbers are also in the tables next to it.

import {s} from "./dom.js";

const W = 600, H = 160, PAD = {left: 56, right: 12, top: 12, bottom: 28};

function frame(label, maxY, xUnit, yUnit) {
  const svg = s("svg", {viewBox: `0 0 ${W} ${H}`, role: "img", "aria-label": label, class: "chart"},
    s("title", {}, label));
  const y0 = H - PAD.bottom;
  svg.append(s("line", {x1: PAD.left, y1: y0, x2: W - PAD.right, y2: y0, class: "axis"}),
    s("line", {x1: PAD.left, y1: PAD.top, x2: PAD.left, y2: y0, class: "axis"}),
    s("text", {x: PAD.left - 6, y: PAD.top + 10, class: "tick", "text-anchor": "end"}, short(maxY)),
    s("text", {x: PAD.left - 6, y: y0, class: "tick", "text-anchor": "end"}, "0"),
    s("text", {x: W - PAD.right, y: H - 6, class: "tick", "text-anchor": "end"}, xUnit),
    s("text", {x: PAD.left + 6, y: PAD.top + 10, class: "tick"}, yUnit));
  return svg;
}

function short(n) {
  if (n >= 1e9) return `${(n / 1e9).toFixed(1)}G`;
  if (n >= 1e6) return `${(n / 1e6).toFixed(1)}M`;
  if (n >= 1e3) return `${(n / 1e3).toFixed(1)}k`;
  return String(Math.round(n * 10) / 10);
}

/** ``points``: [[x, y], ...] with x in seconds from the start. */
export function line(points, label, xUnit, yUnit) {
  const maxX = Math.max(1, ...points.map((p) => p[0]));
  const maxY = Math.max(1, ...points.map((p) => p[1]));
  const svg = frame(label, maxY, xUnit, yUnit);
  const sx = (x) => PAD.left + (x / maxX) * (W - PAD.left - PAD.right);
  const sy = (y) => H - PAD.bottom - (y / maxY) * (H - PAD.top - PAD.bottom);
  if (points.length) {
    svg.append(s("polyline", {class: "series", points: points.map(([x, y]) => `${sx(x).toFixed(1)},${sy(y).toFixed(1)}`)
      .join(" ")}));
    for (const [x, y] of points) {
      svg.append(s("circle", {cx: sx(x).toFixed(1), cy: sy(y).toFixed(1), r: 3, class: "dot"},
        s("title", {}, `${short(y)} ${yUnit} at ${x.toFixed(1)} s`)));
    }
  }
  return svg;
}

/** ``items``: [{label, value, kind}], one bar each, oldest first. */
export function bars(items, label, xUnit, unit) {
  const maxY = Math.max(1, ...items.map((i) => i.value));
  const svg = frame(label, maxY, xUnit, unit);
  const slot = (W - PAD.left - PAD.right) / Math.max(1, items.length);
  items.forEach((item, n) => {
    const height = (item.value / maxY) * (H - PAD.top - PAD.bottom);
    svg.append(s("rect", {x: (PAD.left + n * slot + slot * 0.15).toFixed(1), width: (slot * 0.7).toFixed(1),
      y: (H - PAD.bottom - height).toFixed(1), height: height.toFixed(1), class: `bar ${item.kind || ""}`},
    s("title", {}, `${item.label}: ${short(item.value)} ${unit}`)));
  });
  return svg;
}
