/* The approval inbox and a request's page (templates/approvals/): keys, the countdowns to expiry, and a
   selection and keyboard focus that stay put while the poller replaces the list every few seconds.

   Keys, never while typing in a field: j/k move between requests (on a request's page: to the previous
   or next waiting one), Enter opens the selected one, a approves it, r focuses the reason to reject
   it (Enter then sends), e opens the edited arguments (Ctrl+Enter approves with them).
   The poll is held while the reviewer is writing in a row, so a swap never eats what they typed. */
(function () {
  "use strict";
  const FIELDS = "input, textarea, select, [contenteditable]";
  const PARTS = "a, button, input, textarea, summary";
  const list = document.getElementById("approval-list");
  const nav = document.querySelector(".approval-nav[data-approvals='detail']");
  let selectedId = null;
  let selectedIndex = 0;
  let focus = null; // where the keyboard focus was in the list before a swap: {id, part}

  function rows() {
    return list ? Array.from(list.querySelectorAll(".approval[data-id]")) : [];
  }

  function current() {
    if (!list) return document.querySelector(".approval-detail");
    return rows().find((r) => r.dataset.id === selectedId) || null;
  }

  function select(row, giveFocus) {
    const all = rows();
    all.forEach((r) => {
      r.classList.toggle("selected", r === row);
      if (r === row) r.setAttribute("aria-current", "true");
      else r.removeAttribute("aria-current");
    });
    if (!row) {
      selectedId = null;
      return;
    }
    selectedId = row.dataset.id;
    selectedIndex = all.indexOf(row);
    if (giveFocus) {
      row.focus({ preventScroll: true });
      row.scrollIntoView({ block: "nearest" });
    }
  }

  function move(step) {
    const all = rows();
    if (!all.length) return;
    const at = all.findIndex((r) => r.dataset.id === selectedId);
    select(all[at < 0 ? 0 : Math.max(0, Math.min(all.length - 1, at + step))], true);
  }

  function remember() {
    const active = document.activeElement;
    if (!list || !active || !list.contains(active)) return;
    const row = active.closest(".approval");
    focus = { id: row ? row.dataset.id : null, part: row ? Array.from(row.querySelectorAll(PARTS)).indexOf(active) : -1 };
  }

  function restore() {
    const all = rows();
    let row = all.find((r) => r.dataset.id === selectedId) || null;
    // The selected request left (decided here or elsewhere): select the one that took its place.
    if (!row && all.length) row = all[Math.min(selectedIndex, all.length - 1)];
    select(row, false);
    if (focus === null) return;
    let target = row;
    if (row && focus.id === row.dataset.id && focus.part >= 0) target = row.querySelectorAll(PARTS)[focus.part] || row;
    focus = null;
    if (target && !list.contains(document.activeElement)) target.focus({ preventScroll: true });
  }

  function busy() {
    const active = document.activeElement;
    if (active && list.contains(active) && active.matches(FIELDS)) return true;
    if (list.querySelector("details.decide-edit[open]")) return true;
    return Array.from(list.querySelectorAll(".decide input[type='text'], .decide textarea")).some(
      (field) => field.value !== field.defaultValue
    );
  }

  function press(row, selector) {
    const button = row && row.querySelector(selector);
    if (button) button.click();
  }

  function focusField(row, selector) {
    const field = row && row.querySelector(selector);
    if (!field) return;
    const edit = field.closest("details");
    if (edit) edit.open = true;
    field.focus();
    if (field.setSelectionRange) field.setSelectionRange(0, 0);
    field.scrollIntoView({ block: "nearest" });
  }

  document.addEventListener("keydown", (event) => {
    const target = event.target;
    if ((event.ctrlKey || event.metaKey) && event.key === "Enter" && target.matches && target.matches(".decide textarea")) {
      event.preventDefault();
      target.form.requestSubmit();
      return;
    }
    if (event.ctrlKey || event.metaKey || event.altKey) return;
    if (target.closest && target.closest(FIELDS)) return; // typing is not a command
    const row = current();
    switch (event.key) {
      case "j":
        if (list) move(1);
        else if (nav && nav.dataset.next) window.location.assign(nav.dataset.next);
        break;
      case "k":
        if (list) move(-1);
        else if (nav && nav.dataset.previous) window.location.assign(nav.dataset.previous);
        break;
      case "Enter":
        // On a link or button, Enter is theirs.
        if (!list || !row || (target !== row && target !== document.body)) return;
        window.location.assign(row.dataset.href);
        break;
      case "a":
        press(row, ".decide-approve button[type='submit']");
        break;
      case "r":
        focusField(row, ".decide-reject input[name='comment']");
        break;
      case "e":
        focusField(row, ".decide-edit textarea");
        break;
      default:
        return;
    }
    event.preventDefault();
  });

  // 403 (one's own request) and 409 (decided already, expired) carry the row with the error: show them.
  document.addEventListener("htmx:beforeSwap", (event) => {
    const elt = event.detail.elt;
    if ([403, 409].includes(event.detail.xhr.status) && elt.closest && elt.closest(".decide")) {
      event.detail.shouldSwap = true;
      event.detail.isError = false;
    }
    if (list && event.detail.shouldSwap) remember();
  });

  document.addEventListener("htmx:afterSwap", (event) => {
    if (list) restore();
    // A refused decision: back to the field that needs fixing.
    if (event.detail.requestConfig && event.detail.requestConfig.verb === "post") {
      const error = document.querySelector(".decide .field-error");
      const field = error && error.closest("form").querySelector("textarea, input[type='text']");
      if (field) field.focus();
    }
  });

  if (list) {
    list.addEventListener("htmx:beforeRequest", (event) => {
      if (event.detail.elt === list && busy()) event.preventDefault();
    });
    select(rows()[0] || null, false);
  }

  function left(seconds) {
    if (seconds <= 0) return "expired";
    const d = Math.floor(seconds / 86400);
    const h = Math.floor((seconds % 86400) / 3600);
    const m = Math.floor((seconds % 3600) / 60);
    const s = seconds % 60;
    if (d) return d + " d " + h + " h left";
    if (h) return h + " h " + m + " min left";
    if (m) return m + " min " + s + " s left";
    return s + " s left";
  }

  function tick() {
    const now = Date.now();
    document.querySelectorAll("time.countdown[datetime]").forEach((time) => {
      const at = Date.parse(time.getAttribute("datetime"));
      if (!Number.isNaN(at)) time.textContent = left(Math.floor((at - now) / 1000));
    });
  }
  tick();
  setInterval(tick, 1000);
})();
