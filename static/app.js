// Steward's small behaviours. Loaded in <head> (not deferred) so the theme is set before the
// first paint; everything else waits for the DOM. No inline script anywhere (CSP).
(function () {
  "use strict";
  var root = document.documentElement;
  var stored = null;
  try { stored = localStorage.getItem("steward-theme"); } catch (e) { /* private mode */ }
  if (stored === "light" || stored === "dark") root.dataset.theme = stored;

  function currentTheme() {
    if (root.dataset.theme) return root.dataset.theme;
    return window.matchMedia("(prefers-color-scheme: dark)").matches ? "dark" : "light";
  }

  function toggleTheme() {
    var next = currentTheme() === "dark" ? "light" : "dark";
    root.dataset.theme = next;
    try { localStorage.setItem("steward-theme", next); } catch (e) { /* ignore */ }
  }

  function typing(el) {
    return el && (el.isContentEditable || /^(INPUT|TEXTAREA|SELECT)$/.test(el.tagName));
  }

  // Toasts fade out on their own; errors stay a little longer.
  function scheduleToasts() {
    var all = document.querySelectorAll("#toasts .toast");
    for (var i = 0; i < all.length - 3; i++) all[i].remove();
    document.querySelectorAll("#toasts .toast:not([data-timed])").forEach(function (t) {
      t.dataset.timed = "1";
      setTimeout(function () { t.remove(); }, t.classList.contains("error") ? 8000 : 4000);
    });
  }

  document.addEventListener("DOMContentLoaded", function () {
    var button = document.getElementById("theme-toggle");
    if (button) button.addEventListener("click", toggleTheme);
    scheduleToasts();
    document.body.addEventListener("htmx:afterSettle", scheduleToasts);
    document.body.addEventListener("htmx:oobAfterSwap", scheduleToasts);
    // After an edit form (or a fresh quick-add form) appears, put the cursor in it.
    function focusSwapped(e) {
      var root = (e.detail && e.detail.target) || e.target;
      var field = root && root.querySelector && root.querySelector("[autofocus]");
      if (field) field.focus();
    }
    document.body.addEventListener("htmx:afterSwap", focusSwapped);
    document.body.addEventListener("htmx:oobAfterSwap", focusSwapped);
    // A network failure (server down, offline) says so instead of doing nothing.
    document.body.addEventListener("htmx:sendError", function () {
      var box = document.getElementById("toasts");
      if (!box) return;
      var t = document.createElement("div");
      t.className = "toast error";
      t.setAttribute("role", "alert");
      t.textContent = "Steward cannot be reached. Check your connection and try again.";
      box.appendChild(t);
      scheduleToasts();
    });
  });

  // Keyboard: n = new task, / = search, Escape = cancel an edit.
  document.addEventListener("keydown", function (e) {
    if (e.ctrlKey || e.metaKey || e.altKey) return;
    if (e.key === "Escape") {
      var cancel = document.querySelector(".task.editing button[hx-get]");
      if (cancel) { cancel.click(); e.preventDefault(); }
      return;
    }
    if (typing(document.activeElement)) return;
    var target = null;
    if (e.key === "n") target = document.getElementById("quick-add-text");
    if (e.key === "/") target = document.getElementById("filter-q");
    if (target) { target.focus(); e.preventDefault(); }
  });
})();
