// Draws every dashboard chart: each <div data-figure="ID"> gets the plotly figure held in the JSON
// <script id="ID">. The figures are built server-side (traces/charts.py); this file only draws them.
// A figure with "links" (per trace, per point: a run list URL or null) opens a point's runs on click.
(function () {
  "use strict";
  // Only a path of this site: a link is built by the server, but it is followed only if it stays here.
  function sameSite(url) {
    if (typeof url !== "string" || url.charAt(0) !== "/" || url.charAt(1) === "/" || url.indexOf("\\") !== -1) {
      return false;
    }
    return new URL(url, window.location.href).origin === window.location.origin;
  }
  function draw() {
    document.querySelectorAll("[data-figure]").forEach(function (el) {
      var source = document.getElementById(el.dataset.figure);
      if (!source) return;
      var figure = JSON.parse(source.textContent);
      Plotly.newPlot(el, figure.data, figure.layout, { displaylogo: false, responsive: true });
      var links = figure.links;
      if (!links) return;
      el.classList.add("linked");
      el.on("plotly_click", function (event) {
        var point = event.points && event.points[0];
        if (!point) return;
        var url = (links[point.curveNumber] || [])[point.pointNumber];
        if (sameSite(url)) window.location.assign(url);
      });
    });
  }
  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", draw);
  } else {
    draw();
  }
})();
