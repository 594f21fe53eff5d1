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
    // Today's box comes back in place of itself after an add: the cursor goes back in, once.
    document.body.addEventListener("htmx:afterSettle", function () {
      var box = document.querySelector("#today-add input[autofocus]");
      if (!box) return;
      box.removeAttribute("autofocus");
      box.focus();
    });
    document.body.addEventListener("htmx:oobAfterSwap", focusSwapped);
    // A network failure (server down, offline) says so instead of doing nothing.
    document.body.addEventListener("htmx:sendError", function () {
      addToast("Steward cannot be reached. Check your connection and try again.", true);
    });
    connectLive();
    paintDesktopToggle();
    document.body.addEventListener("htmx:afterSettle", paintDesktopToggle);
    var push = document.getElementById("push-enable");
    if (push) {
      push.addEventListener("click", enablePush);
      document.getElementById("push").hidden = false;
    }
  });

  // Desktop notifications while a Steward tab is open but hidden: the browser's Notification
  // API, turned on by the person (the toggle on the Notifications page asks the permission,
  // which browsers grant only from a click).
  function desktopSupported() { return "Notification" in window; }
  function desktopOn() {
    var on = null;
    try { on = localStorage.getItem("steward-desktop-notifications"); } catch (e) { /* private mode */ }
    return on === "on" && desktopSupported() && Notification.permission === "granted";
  }
  function desktopNotify(n) {
    if (!document.hidden || !desktopOn()) return;
    var link = "/notifications#notification-" + n.id;
    try {
      // The same tag as a Web Push of this notification: one replaces the other.
      var shown = new Notification(String(n.title || "Steward"), {
        body: String(n.body || ""), tag: "steward-" + n.id, icon: "/static/icon.svg"
      });
      shown.onclick = function () {
        window.focus();
        shown.close();
        location.href = link;
      };
    } catch (e) { /* a browser that allows it only from a service worker */ }
  }
  function paintDesktopToggle() {
    var box = document.getElementById("desktop-notifications");
    var button = document.getElementById("desktop-toggle");
    var state = document.getElementById("desktop-state");
    if (!box || !button || !state) return;
    box.hidden = false;
    if (!desktopSupported()) {
      button.disabled = true;
      state.textContent = "This browser cannot show desktop notifications.";
      return;
    }
    var on = desktopOn();
    button.setAttribute("aria-pressed", on ? "true" : "false");
    button.textContent = on ? "Stop desktop notifications" : "Show desktop notifications";
    state.textContent = Notification.permission === "denied"
      ? "Blocked in this browser's site settings."
      : on ? "On: new notifications show on your desktop while Steward is in a background tab." : "Off.";
  }
  document.addEventListener("click", function (e) {
    if (!e.target || e.target.id !== "desktop-toggle" || !desktopSupported()) return;
    var set = function (v) { try { localStorage.setItem("steward-desktop-notifications", v); } catch (err) { /* ignore */ } };
    if (desktopOn()) { set("off"); paintDesktopToggle(); return; }
    Notification.requestPermission().then(function (p) {
      set(p === "granted" ? "on" : "off");
      paintDesktopToggle();
    });
  });

  // Channels page: "Enable push on this browser" registers the service worker, subscribes
  // with Steward's VAPID key and stores the subscription as a channel.
  function keyBytes(b64) {
    var s = b64.replace(/-/g, "+").replace(/_/g, "/");
    while (s.length % 4) s += "=";
    var raw = atob(s);
    var out = new Uint8Array(raw.length);
    for (var i = 0; i < raw.length; i++) out[i] = raw.charCodeAt(i);
    return out;
  }
  function csrfToken() {
    try { return JSON.parse(document.body.getAttribute("hx-headers"))["X-CSRF-Token"]; } catch (e) { return ""; }
  }
  function enablePush() {
    var section = document.getElementById("push");
    var status = document.getElementById("push-status");
    var name = document.getElementById("push-name");
    var button = document.getElementById("push-enable");
    var say = function (text) { if (status) status.textContent = text; };
    if (!window.isSecureContext || !("serviceWorker" in navigator) || !("PushManager" in window) || !desktopSupported()) {
      say("This browser cannot receive push here: browsers allow it over HTTPS or on localhost only.");
      return;
    }
    var key = keyBytes(section.dataset.vapidKey);
    button.disabled = true;
    say("Asking for permission…");
    Notification.requestPermission().then(function (p) {
      if (p !== "granted") throw new Error("Notifications are not allowed for this site; allow them in the browser's site settings.");
      say("Subscribing…");
      return navigator.serviceWorker.register("/sw.js", { scope: "/" });
    }).then(function () {
      return navigator.serviceWorker.ready;
    }).then(function (reg) {
      return reg.pushManager.getSubscription().then(function (old) {
        // A subscription made with another key cannot be used: make a new one.
        var same = old && old.options && old.options.applicationServerKey &&
          new Uint8Array(old.options.applicationServerKey).join() === key.join();
        if (old && same) return old;
        return (old ? old.unsubscribe() : Promise.resolve()).then(function () {
          return reg.pushManager.subscribe({ userVisibleOnly: true, applicationServerKey: key });
        });
      });
    }).then(function (sub) {
      var j = sub.toJSON();
      return fetch("/push/subscribe", {
        method: "POST",
        credentials: "same-origin",
        headers: { "Content-Type": "application/json", "X-CSRF-Token": csrfToken() },
        body: JSON.stringify({ endpoint: j.endpoint, keys: j.keys, name: name ? name.value : "" })
      });
    }).then(function (res) {
      return res.json().then(function (body) {
        if (!res.ok) throw new Error((body.error && body.error.message) || "Steward answered " + res.status + ".");
        location.href = "/channels?added=" + encodeURIComponent(body.name);
      });
    }).catch(function (err) {
      button.disabled = false;
      say(String((err && err.message) || err));
    });
  }

  // A toast made here (text only: never markup from the server's data).
  function addToast(text, error, withActions) {
    var box = document.getElementById("toasts");
    if (!box) return;
    var t = document.createElement("div");
    t.className = error ? "toast error" : "toast";
    t.setAttribute("role", error ? "alert" : "status");
    t.textContent = text;
    box.appendChild(t);
    if (withActions) addActions(t, withActions);
    scheduleToasts();
  }

  // A reminder's toast offers its buttons, as the Notifications page does: Done (a task),
  // Snooze 10 min and 1 h, and a link to the notification (whose Open leads to the task or
  // event). They POST with the page's CSRF header (hx-headers on <body>); the answer's toast
  // says what happened.
  function addActions(t, n) {
    var s = String(n.subject || "");
    var task = s.indexOf("task:") === 0;
    if (!t || !window.htmx || (!task && s.indexOf("event:") !== 0)) return;
    var row = document.createElement("span");
    row.className = "toast-actions";
    function button(label, action, snooze) {
      var b = document.createElement("button");
      b.type = "button";
      b.className = "small";
      b.textContent = label;
      b.addEventListener("click", function () {
        b.disabled = true;
        htmx.ajax("POST", "/notifications/" + Number(n.id) + "/actions/" + action,
          { source: document.body, swap: "none", values: snooze ? { snooze: snooze } : {} })
          .then(function () { t.remove(); }, function () { b.disabled = false; });
      });
      row.appendChild(b);
    }
    if (task) button("Done", "done");
    button("Snooze 10 min", "snooze", "10m");
    button("1 h", "snooze", "1h");
    var more = document.createElement("a");
    more.href = "/notifications#notification-" + Number(n.id);
    more.textContent = "More…";
    row.appendChild(more);
    t.appendChild(row);
    // Time to press a button: it stays 20 s.
    t.dataset.timed = "1";
    setTimeout(function () { t.remove(); }, 20000);
  }

  // Live updates: pages with data-live listen to /events (server-sent events) and refresh
  // the rows an event concerns.
  var inflight = {};

  // Runs `fetch` (which returns a promise) once at a time per key; an event arriving while it
  // runs asks for one more run afterwards, so a burst of events costs two requests, not many.
  function coalesce(key, fetch) {
    if (inflight[key]) { inflight[key].again = true; return; }
    inflight[key] = { again: false };
    var done = function () {
      var again = inflight[key] && inflight[key].again;
      delete inflight[key];
      if (again) coalesce(key, fetch);
    };
    fetch().then(done, done);
  }

  // Replaces the element `id` by a fresh copy from `url` (`select`: the part of the answer to
  // take), keeping its open <details> open.
  function refresh(id, url, select) {
    var el = document.getElementById(id);
    if (!el || !window.htmx) return Promise.resolve();
    var open = [];
    var self = el.tagName === "DETAILS" && el.open;
    el.querySelectorAll("details").forEach(function (d, i) { if (d.open) open.push(i); });
    var ctx = { target: "#" + id, swap: "outerHTML" };
    if (select) ctx.select = select;
    return htmx.ajax("GET", url, ctx).then(function () {
      var fresh = document.getElementById(id);
      if (!fresh) return;
      if (self) fresh.open = true;
      var all = fresh.querySelectorAll("details");
      open.forEach(function (i) { if (all[i]) all[i].open = true; });
    });
  }

  function onRun(run) {
    var id = "run-" + run.id;
    var url = "/runs/" + run.id + "/row";
    if (document.getElementById(id)) {
      coalesce(id, function () { return refresh(id, url); });
    } else {
      // A new run: shown at the top of an unfiltered list (of all runs, or of its schedule).
      var runs = document.getElementById("runs");
      var body = document.getElementById("runs-body");
      var mine = runs && (!runs.dataset.schedule || runs.dataset.schedule === String(run.schedule_id));
      if (body && mine && runs.dataset.filtered !== "true") {
        var empty = body.querySelector(".runs-empty");
        if (empty) empty.remove();
        var row = document.createElement("details");
        row.id = id;
        body.insertBefore(row, body.firstChild);
        coalesce(id, function () { return refresh(id, url); });
      }
    }
    if (run.schedule_id !== null && run.schedule_id !== undefined) {
      var sid = "schedule-" + run.schedule_id;
      if (document.getElementById(sid)) {
        coalesce(sid, function () { return refresh(sid, "/schedules/" + run.schedule_id + "/row"); });
      }
    }
  }

  function bumpBell() {
    var count = document.getElementById("bell-count");
    if (!count) return;
    var n = (parseInt(count.textContent, 10) || 0) + 1;
    var label = document.createElement("span");
    label.className = "visually-hidden";
    label.textContent = " unread";
    count.replaceChildren(document.createTextNode(String(n)), label);
    count.hidden = false;
  }

  function onNotification(n) {
    var text = String(n.title || "Notification");
    if (n.body && n.body !== n.title) text += ": " + String(n.body);
    if (text.length > 240) text = text.slice(0, 239) + "…";
    addToast(text, n.level === "error", document.getElementById("notification-list") ? null : n);
    desktopNotify(n);
    // On the Notifications page the list is read again, which marks it read: the bell stays.
    if (!document.getElementById("notification-list")) bumpBell();
    if (document.getElementById("notification-list")) {
      coalesce("notification-list", function () {
        return refresh("notification-list", location.pathname + location.search, "#notification-list");
      });
    }
  }

  // After missed events (a lagging or broken connection), every live list is read again.
  function reloadLists() {
    document.querySelectorAll("[data-live-list][id]").forEach(function (el) {
      var id = el.id;
      coalesce(id, function () { return refresh(id, location.pathname + location.search, "#" + id); });
    });
  }

  // Today: a section is read again alone (`/?section=tasks`) when an event concerns it; the
  // context picked in the selector goes along.
  function todaySection(name) {
    var id = "today-" + name;
    if (!document.getElementById(id)) return;
    var pick = document.getElementById("today-context");
    var url = "/?section=" + name;
    if (pick && pick.value) url += "&context=" + encodeURIComponent(pick.value);
    coalesce(id, function () { return refresh(id, url); });
  }

  function connectLive() {
    // With desktop notifications on, every page listens (a hidden tab shows them).
    if (!window.EventSource || (!document.querySelector("[data-live]") && !desktopOn())) return;
    var source = null;
    var broken = false;
    function parse(e) {
      try { return JSON.parse(e.data); } catch (err) { return null; }
    }
    function open() {
      source = new EventSource("/events");
      source.addEventListener("run", function (e) {
        var d = parse(e); if (d) onRun(d);
        todaySection("schedules"); todaySection("stats");
      });
      source.addEventListener("notification", function (e) {
        var d = parse(e); if (d) onNotification(d);
        todaySection("notifications");
      });
      // The Calendar page redraws itself (calendar.js).
      source.addEventListener("calendar", function () {
        document.dispatchEvent(new CustomEvent("steward:calendar"));
        todaySection("agenda");
      });
      source.addEventListener("tasks", function () { todaySection("tasks"); todaySection("stats"); });
      source.addEventListener("lagged", reloadLists);
      source.addEventListener("error", function () { broken = true; });
      source.addEventListener("open", function () {
        if (broken) { broken = false; reloadLists(); }
      });
    }
    open();
    // Browsers allow few connections per server: a page left behind gives its stream back.
    window.addEventListener("pagehide", function () { if (source) { source.close(); source = null; } });
    window.addEventListener("pageshow", function (e) {
      if (e.persisted && !source) { open(); reloadLists(); }
    });
  }

  // Chat: Enter sends, Shift+Enter breaks the line; a reply streams into its bubble over SSE,
  // rendered as it grows, and the messages are read again (tool cards) when a step or the
  // reply ends.
  document.addEventListener("keydown", function (e) {
    var box = e.target;
    if (box.id !== "composer-text" || e.key !== "Enter" || e.shiftKey || e.isComposing) return;
    e.preventDefault();
    if (box.value.trim() && box.form) box.form.requestSubmit();
  });
  document.addEventListener("htmx:afterRequest", function (e) {
    var form = e.detail.elt;
    if (form && form.id === "composer" && e.detail.successful) {
      var box = document.getElementById("composer-text");
      if (box) { box.value = ""; box.focus(); }
    }
  });
  // Opening Rename on the Chat page puts the cursor in the title.
  document.addEventListener("toggle", function (e) {
    var d = e.target;
    if (!d.classList || !d.classList.contains("chat-rename") || !d.open) return;
    var title = document.getElementById("chat-title");
    if (title) title.select();
  }, true);
  // A plain form that asks first (without htmx, where hx-confirm would).
  document.addEventListener("submit", function (e) {
    var ask = (e.submitter && e.submitter.dataset.confirm) || e.target.dataset.confirm;
    if (ask && !window.confirm(ask)) e.preventDefault();
  }, true);

  var chatSource = null;

  function reloadMessages() {
    var box = document.getElementById("chat-messages");
    if (!box || !window.htmx) return Promise.resolve();
    return htmx.ajax("GET", box.dataset.messages, { target: "#chat-messages", swap: "outerHTML" });
  }

  function followChat() {
    if (chatSource) { chatSource.close(); chatSource = null; }
    var box = document.getElementById("chat-messages");
    if (!box || !box.dataset.stream || !window.EventSource) return;
    var source = new EventSource(box.dataset.stream);
    chatSource = source;
    var target = null;
    // A burst of events that all want the messages read again reads them once (or twice).
    function reload() { coalesce("chat-messages", reloadMessages); }
    function data(e) { try { return JSON.parse(e.data); } catch (err) { return {}; } }
    // The server sends the reply so far as HTML it has sanitised exactly as it sanitises the
    // finished reply (the same function renders both), so it goes in as markup.
    function show(html) {
      if (!target) return;
      var nearBottom = window.innerHeight + window.scrollY >= document.body.scrollHeight - 120;
      target.innerHTML = html || "";
      target.classList.add("streaming");
      if (nearBottom) window.scrollTo(0, document.body.scrollHeight);
    }
    function bubble(id) {
      target = document.querySelector('[data-reply="' + id + '"]');
      return target;
    }
    function rendered(e) {
      var d = data(e);
      if (bubble(d.id)) show(d.html); else reload();
    }
    source.addEventListener("snapshot", rendered);
    source.addEventListener("html", rendered);
    source.addEventListener("message", function (e) {
      if (!bubble(data(e).id)) reload();
    });
    source.addEventListener("tool_result", reload);
    source.addEventListener("done", function () {
      source.close();
      if (chatSource === source) chatSource = null;
      reload();
    });
  }

  document.addEventListener("DOMContentLoaded", followChat);
  document.addEventListener("htmx:afterSwap", function (e) {
    if (e.detail.target && e.detail.target.id === "chat-messages") followChat();
  });
  window.addEventListener("pagehide", function () { if (chatSource) { chatSource.close(); chatSource = null; } });

  // Tasks: a refused quick-add's error goes away as soon as the text changes (the preview
  // says what the new text means).
  document.addEventListener("input", function (e) {
    var box = e.target;
    if (box.id !== "quick-add-text" || !box.hasAttribute("aria-invalid")) return;
    box.removeAttribute("aria-invalid");
    box.setAttribute("aria-describedby", "quick-add-preview");
    var error = document.getElementById("quick-add-error");
    if (error) error.remove();
  });

  // Tasks: a date picker beside a date field (shown only with script); picking a day keeps the
  // time already typed, typing a date moves the picker.
  var isoDay = /^(\d{4}-\d{2}-\d{2})(.*)$/;
  document.addEventListener("htmx:load", function (e) {
    var root = (e.detail && e.detail.elt) || e.target;
    if (root.querySelectorAll) root.querySelectorAll(".date-pick[hidden]").forEach(function (p) { p.hidden = false; });
  });
  document.addEventListener("change", function (e) {
    var pick = e.target;
    if (!pick.classList || !pick.classList.contains("date-pick") || !pick.value) return;
    var field = document.getElementById(pick.dataset.dateFor);
    if (!field) return;
    var m = isoDay.exec(field.value.trim());
    field.value = pick.value + (m ? m[2] : "");
  });
  document.addEventListener("input", function (e) {
    var field = e.target;
    if (!field.id) return;
    var pick = document.querySelector('.date-pick[data-date-for="' + field.id + '"]');
    var m = pick && isoDay.exec(field.value.trim());
    if (m) pick.value = m[1];
  });

  // Tasks: the list is read again after every change; groups the person opened stay open.
  var openGroups = null;
  document.addEventListener("htmx:beforeSwap", function (e) {
    var list = document.getElementById("task-list");
    if (!list || e.detail.target !== list) return;
    openGroups = [];
    list.querySelectorAll("details.group[open]").forEach(function (d) { openGroups.push(d.className); });
  });
  document.addEventListener("htmx:afterSwap", function () {
    if (!openGroups) return;
    var list = document.getElementById("task-list");
    var keep = openGroups;
    openGroups = null;
    if (!list) return;
    list.querySelectorAll("details.group:not([open])").forEach(function (d) {
      if (keep.indexOf(d.className) >= 0) d.open = true;
    });
  });
  // Row menus (<details class="menu">) and runs: a menu closes when a click lands outside it
  // or on Escape; a run named in the address (#run-12) opens.
  document.addEventListener("click", function (e) {
    document.querySelectorAll("details.menu[open]").forEach(function (m) {
      if (!m.contains(e.target)) m.open = false;
    });
  });
  document.addEventListener("keydown", function (e) {
    if (e.key !== "Escape") return;
    document.querySelectorAll("details.menu[open]").forEach(function (m) {
      m.open = false;
      var s = m.querySelector("summary");
      if (s) s.focus();
    });
  });
  function openNamedRun() {
    var m = /^#run-\d+$/.exec(location.hash);
    var run = m && document.getElementById(location.hash.slice(1));
    if (run && run.tagName === "DETAILS") run.open = true;
  }
  document.addEventListener("DOMContentLoaded", openNamedRun);
  window.addEventListener("hashchange", openNamedRun);

  // Keyboard, on every page: ? = the list of shortcuts, g then d/t/c/h/s = go to Today, Tasks,
  // Calendar, Chat, Schedules; n = the quick-add box, / = search, Escape = cancel an edit.
  var GO = { d: "/", t: "/tasks", c: "/calendar", h: "/chat", s: "/schedules" };
  var pendingG = 0;
  document.addEventListener("keydown", function (e) {
    if (e.ctrlKey || e.metaKey || e.altKey) return;
    if (e.key === "Escape") {
      var cancel = document.querySelector(".task.editing button[hx-get]");
      if (cancel) { cancel.click(); e.preventDefault(); }
      return;
    }
    if (typing(document.activeElement)) return;
    var help = document.getElementById("shortcuts");
    if (help && help.open) return;
    if (pendingG && Date.now() - pendingG < 1500 && GO[e.key]) {
      pendingG = 0;
      e.preventDefault();
      location.href = GO[e.key];
      return;
    }
    pendingG = 0;
    if (e.key === "g") { pendingG = Date.now(); return; }
    if (e.key === "?") {
      if (help && help.showModal) { help.showModal(); e.preventDefault(); }
      return;
    }
    var target = null;
    if (e.key === "n") target = document.getElementById("quick-add-text");
    if (e.key === "/") target = document.getElementById("filter-q");
    if (target) { target.focus(); e.preventDefault(); }
  });
})();
