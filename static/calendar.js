// The Calendar page's behaviours: the agenda by default on a phone, keyboard (t, ←/→, m/w/d/a;
// n is app.js's "focus the quick-add box"), the event dialog, the all-day switch, the now-line,
// and live refreshes. Loaded at the top of the page's content (not deferred) so that a phone
// opening /calendar without a view goes to the agenda before the month grid is drawn.
(function () {
  "use strict";

  // A phone gets the agenda unless the address names a view.
  var params = new URLSearchParams(location.search);
  if (!params.has("view") && window.matchMedia("(max-width: 640px)").matches) {
    params.set("view", "agenda");
    location.replace(location.pathname + "?" + params.toString());
    return;
  }

  function typing(el) {
    return el && (el.isContentEditable || /^(INPUT|TEXTAREA|SELECT)$/.test(el.tagName));
  }

  function dialog() { return document.getElementById("event-dialog"); }

  function go(id) {
    var link = document.getElementById(id);
    if (link) link.click();
  }

  document.addEventListener("keydown", function (e) {
    if (e.ctrlKey || e.metaKey || e.altKey || e.isComposing) return;
    if (!document.getElementById("cal-body")) return;
    if (typing(document.activeElement)) return;
    var d = dialog();
    if (d && d.open) return;
    var handled = true;
    switch (e.key) {
      case "t": go("cal-today"); break;
      case "ArrowLeft": go("cal-prev"); break;
      case "ArrowRight": go("cal-next"); break;
      case "m": case "w": case "d": case "a": {
        var link = document.querySelector('.cal-views a[data-key="' + e.key + '"]');
        if (link) link.click();
        break;
      }
      default: handled = false;
    }
    if (handled) e.preventDefault();
  });

  // The event dialog: opens when a form arrives in it, closes when it is emptied.
  function syncDialog() {
    var d = dialog();
    var body = document.getElementById("event-dialog-body");
    if (!d || !body) return;
    var full = body.children.length > 0;
    if (full && !d.open) {
      d.showModal();
      var first = body.querySelector("[autofocus]");
      if (first) first.focus();
    }
    if (!full && d.open) d.close();
  }

  function onSwap() {
    syncDialog();
    scrollGrid();
    trimUndo();
  }

  // The time-grid opens scrolled to the morning (or to now, on today's week).
  function scrollGrid() {
    var box = document.getElementById("tgrid-scroll");
    if (!box || box.dataset.scrolled) return;
    box.dataset.scrolled = "1";
    var now = box.querySelector(".now-line");
    var hour = box.scrollHeight / 24;
    var target = 7 * hour;
    if (now && now.offsetTop > box.clientHeight * 0.8) target = Math.max(target, now.offsetTop - box.clientHeight / 3);
    box.scrollTop = target;
  }

  // The now-line moves on by itself: one 5-minute slot at a time.
  var loaded = Date.now();
  setInterval(function () {
    document.querySelectorAll(".now-line").forEach(function (line) {
      var m = /\bt-(\d+)\b/.exec(line.className);
      if (!m) return;
      if (!line.dataset.slot) { line.dataset.slot = m[1]; line.dataset.since = String(loaded); }
      var slot = parseInt(line.dataset.slot, 10) + Math.floor((Date.now() - parseInt(line.dataset.since, 10)) / 300000);
      if (slot > 288) { line.remove(); return; }
      line.className = line.className.replace(/\bt-\d+\b/, "t-" + slot);
    });
  }, 30000);

  // An Undo toast stays for ten seconds (app.js times the others).
  function trimUndo() {
    document.querySelectorAll("#toasts [data-undo]:not([data-undo-timed])").forEach(function (t) {
      t.dataset.undoTimed = "1";
      setTimeout(function () { t.remove(); }, 10000);
    });
  }

  // Live: a change made elsewhere (API, agent, another tab) redraws the view and the side panel.
  var busy = false;
  var again = false;
  function redraw() {
    if (!window.htmx || !document.getElementById("cal-body")) return;
    if (busy) { again = true; return; }
    busy = true;
    var url = location.pathname + location.search;
    var done = function () {
      busy = false;
      if (again) { again = false; redraw(); }
    };
    htmx.ajax("GET", url, { target: "#cal-body", swap: "outerHTML" }).then(function () {
      return htmx.ajax("GET", url, { target: "#cal-side", swap: "outerHTML", select: "#cal-side" });
    }).then(done, done);
  }
  document.addEventListener("steward:calendar", redraw);

  document.addEventListener("DOMContentLoaded", function () {
    var d = dialog();
    if (d) {
      d.addEventListener("close", function () {
        var body = document.getElementById("event-dialog-body");
        if (body) body.replaceChildren();
      });
      // A click on the backdrop closes it.
      d.addEventListener("click", function (e) { if (e.target === d) d.close(); });
    }
    document.body.addEventListener("htmx:afterSwap", onSwap);
    document.body.addEventListener("htmx:oobAfterSwap", onSwap);
    scrollGrid();
  });

  document.addEventListener("click", function (e) {
    var close = e.target.closest && e.target.closest("[data-close-dialog]");
    if (close) {
      var d = dialog();
      if (d && d.open) d.close();
    }
  });

  // All day on/off: the start and end fields switch between dates and date-times.
  document.addEventListener("change", function (e) {
    var box = e.target;
    if (!box.matches || !box.matches("[data-all-day]")) return;
    var form = box.form;
    form.querySelectorAll("[data-when]").forEach(function (input) {
      var v = input.value;
      if (box.checked) {
        input.type = "date";
        input.value = v.slice(0, 10);
      } else {
        input.type = "datetime-local";
        input.value = v.length === 10 ? v + (input.name === "end" ? "T10:00" : "T09:00") : v;
      }
    });
    var zone = form.querySelector("[data-zone]");
    if (zone) zone.disabled = box.checked;
  });
})();
