// Draws the eval trend chart from its JSON <script> (agentops/goldens/eval_charts.py builds it) and
// opens the eval run of a clicked point. The URL is the server's own (customdata), and only a path on
// this site is followed.
(function () {
  "use strict";
  function draw() {
    document.querySelectorAll("[data-eval-figure]").forEach(function (el) {
      var source = document.getElementById(el.dataset.evalFigure);
      if (!source) return;
      var figure = JSON.parse(source.textContent);
      Plotly.newPlot(el, figure.data, figure.layout, { displaylogo: false, responsive: true }).then(function () {
        el.dataset.drawn = "true";
        el.on("plotly_click", function (event) {
          var point = event.points && event.points[0];
          var url = point && point.customdata && point.customdata[0];
          if (typeof url === "string" && url.charAt(0) === "/" && url.charAt(1) !== "/") {
            window.location.assign(url);
          }
        });
      });
    });
  }
  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", draw);
  } else {
    draw();
  }
})();
