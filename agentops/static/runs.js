/* The run list: a click anywhere on a row opens its run, as its start time's link does. Links, buttons
   and form fields in the row keep their own behaviour; a click that ends a text selection is not a
   navigation; Ctrl/Cmd or the middle button open a new tab, as on a link. Rows swapped in by the live
   poll are covered: the listener is on the document. */
(function () {
  "use strict";
  function open(event) {
    const row = event.target.closest("tr.run[data-href]");
    if (!row || event.target.closest("a, button, input, select, textarea, label")) return;
    if (String(window.getSelection() || "").length) return;
    const newTab = event.ctrlKey || event.metaKey || event.button === 1;
    if (newTab) window.open(row.dataset.href, "_blank", "noopener");
    else window.location.assign(row.dataset.href);
  }
  document.addEventListener("click", (event) => { if (event.button === 0) open(event); });
  document.addEventListener("auxclick", (event) => { if (event.button === 1) open(event); });
})();
