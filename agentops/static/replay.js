/* The replay page's player: current step in tree, waterfall and panel; keys, scrubber, collapsing.
   No framework. The panel of a step is fetched when it becomes current (payloads are never sent up
   front), and kept for when the user comes back to it. */
(function () {
  "use strict";
  const root = document.getElementById("replay");
  if (!root) return;
  const count = Number(root.dataset.count);
  if (!count) return;
  const rows = Array.from(document.querySelectorAll("#span-tree li.row"));
  const stepRows = [];
  rows.forEach((li) => { if (li.dataset.index !== undefined) stepRows[Number(li.dataset.index)] = li; });
  const panel = document.getElementById("step-panel");
  const scrubber = document.getElementById("scrubber");
  const counter = document.getElementById("step-counter");
  const panelUrl = root.dataset.panelUrl;
  const cache = new Map();
  const collapsed = new Set();
  let current = -1;
  let wanted = -1;
  const WINDOW = 40;

  // Loops start collapsed: a run of 50 LLM/tool rounds is one line until the user opens it.
  rows.forEach((li) => { if (li.dataset.loop) collapsed.add(li.dataset.loop); });

  function refreshVisibility() {
    rows.forEach((li) => {
      const groups = li.dataset.groups ? li.dataset.groups.split(" ") : [];
      li.hidden = groups.some((g) => collapsed.has(g));
    });
    document.querySelectorAll("#span-tree .toggle").forEach((button) => {
      const open = !collapsed.has(button.dataset.toggle);
      button.setAttribute("aria-expanded", String(open));
      button.textContent = open ? "▾" : "▸";
    });
  }

  function reveal(li) {
    (li.dataset.groups ? li.dataset.groups.split(" ") : []).forEach((g) => collapsed.delete(g));
    refreshVisibility();
  }

  function highlightWaterfall(i) {
    const chart = document.getElementById("waterfall");
    if (!window.Plotly || !chart.data) return;
    const update = {
      shapes: [{
        type: "rect", xref: "paper", x0: 0, x1: 1, yref: "y", y0: i + 0.5, y1: i + 1.5,
        fillcolor: "rgba(36, 87, 197, 0.12)", line: { width: 1, color: "#2457c5" }, layer: "below",
      }],
    };
    // A long run shows a window of rows around the current step (reversed axis: top row first).
    if (count > WINDOW) {
      const top = Math.max(0.5, Math.min(count - WINDOW + 0.5, i + 1 - WINDOW / 2));
      update["yaxis.range"] = [top + WINDOW, top];
    }
    window.Plotly.relayout(chart, update);
  }

  function loadPanel(i) {
    const span = stepRows[i].dataset.span;
    // An approval request's row names its own panel (it is no span); a span's is the span panel's URL.
    const url = stepRows[i].dataset.panel || panelUrl.replace("0000000000000000", span);
    wanted = i;
    if (cache.has(span)) {
      panel.innerHTML = cache.get(span);
      return;
    }
    panel.classList.add("loading");
    fetch(url, { headers: { "HX-Request": "true" }, credentials: "same-origin" })
      .then((response) => {
        if (!response.ok) throw new Error("step panel: HTTP " + response.status);
        return response.text();
      })
      .then((html) => {
        cache.set(span, html);
        if (wanted === i) panel.innerHTML = html;  // the user may have moved on meanwhile
      })
      .catch((error) => { if (wanted === i) panel.textContent = String(error.message); })
      .finally(() => panel.classList.remove("loading"));
  }

  function go(i) {
    i = Math.max(0, Math.min(count - 1, i));
    if (i === current) return;
    if (current >= 0) stepRows[current].classList.remove("current");
    current = i;
    const li = stepRows[i];
    li.classList.add("current");
    reveal(li);
    li.scrollIntoView({ block: "nearest" });
    scrubber.value = String(i);
    counter.textContent = (i + 1) + " / " + count;
    root.dataset.current = String(i);
    const url = new URL(window.location.href);
    url.searchParams.set("step", String(i));
    window.history.replaceState(null, "", url);
    highlightWaterfall(i);
    loadPanel(i);
  }

  function firstError() {
    if (root.dataset.firstError !== undefined) go(Number(root.dataset.firstError));
  }

  // "Show all" under a cut value: the same panel again, whole, in place (a plain link without JS).
  panel.addEventListener("click", (event) => {
    const link = event.target.closest("a.show-all-link");
    if (!link) return;
    event.preventDefault();
    const i = current;
    const span = stepRows[i].dataset.span;
    fetch(link.href, { headers: { "HX-Request": "true" }, credentials: "same-origin" })
      .then((response) => {
        if (!response.ok) throw new Error("step panel: HTTP " + response.status);
        return response.text();
      })
      .then((html) => {
        cache.set(span, html);
        if (current === i) panel.innerHTML = html;
      })
      .catch((error) => { if (current === i) panel.textContent = String(error.message); });
  });

  document.getElementById("step-prev").addEventListener("click", () => go(current - 1));
  document.getElementById("step-next").addEventListener("click", () => go(current + 1));
  const errorButton = document.getElementById("first-error");
  if (errorButton) errorButton.addEventListener("click", firstError);
  scrubber.addEventListener("input", () => go(Number(scrubber.value)));

  document.getElementById("span-tree").addEventListener("click", (event) => {
    const toggle = event.target.closest(".toggle");
    if (toggle) {
      const group = toggle.dataset.toggle;
      if (collapsed.has(group)) collapsed.delete(group); else collapsed.add(group);
      refreshVisibility();
      return;
    }
    const li = event.target.closest("li.row");
    if (li && li.dataset.index !== undefined) go(Number(li.dataset.index));
  });

  document.addEventListener("keydown", (event) => {
    if (event.ctrlKey || event.metaKey || event.altKey) return;
    const target = event.target;
    // Typing in a field is not navigation. The scrubber moves itself with the arrow keys (its input
    // event follows), so there only j, k and e are ours.
    const onScrubber = target === scrubber;
    if (onScrubber && event.key.startsWith("Arrow")) return;
    if (!onScrubber && target.closest && target.closest("input, textarea, select, [contenteditable]")) return;
    if (event.key === "j" || event.key === "ArrowDown" || event.key === "ArrowRight") {
      go(current + 1);
    } else if (event.key === "k" || event.key === "ArrowUp" || event.key === "ArrowLeft") {
      go(current - 1);
    } else if (event.key === "e") {
      firstError();
    } else {
      return;
    }
    event.preventDefault();
  });

  function drawWaterfall() {
    const figure = JSON.parse(document.getElementById("waterfall-data").textContent);
    const chart = document.getElementById("waterfall");
    window.Plotly.newPlot(chart, figure.data, figure.layout, { displayModeBar: false, responsive: true, scrollZoom: true })
      .then(() => {
        chart.on("plotly_click", (data) => { if (data.points.length) go(Number(data.points[0].y) - 1); });
        highlightWaterfall(current);
      });
  }

  refreshVisibility();
  go(Number(root.dataset.current) || 0);
  if (window.Plotly) drawWaterfall();
  else window.addEventListener("load", drawWaterfall);
})();
