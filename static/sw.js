// Steward's service worker: shows Web Push notifications and follows their clicks.
// Served from /sw.js so that its scope is the whole app. The payload is the JSON that
// src/notify/webpush.rs builds: {title, body, url, actions: [{action, title, url, method?}], tag, level}.
"use strict";

self.addEventListener("install", function () { self.skipWaiting(); });
self.addEventListener("activate", function (event) { event.waitUntil(self.clients.claim()); });

self.addEventListener("push", function (event) {
  var data = {};
  if (event.data) {
    try { data = event.data.json(); } catch (e) { data = { body: event.data.text() }; }
  }
  var actions = Array.isArray(data.actions) ? data.actions.filter(function (a) { return a && a.action && a.url; }) : [];
  var max = (self.Notification && self.Notification.maxActions) || 2;
  var options = {
    body: String(data.body || ""),
    icon: "/static/icon.svg",
    tag: data.tag || undefined,
    data: { url: data.url || "/notifications", actions: actions },
    actions: actions.slice(0, max).map(function (a) { return { action: String(a.action), title: String(a.title || a.action) }; }),
    requireInteraction: data.level === "error"
  };
  event.waitUntil(self.registration.showNotification(String(data.title || "Steward"), options));
});

// Focuses a Steward window already showing `url`, else opens one.
function openOrFocus(url) {
  var target = new URL(url, self.location.origin).href;
  return self.clients.matchAll({ type: "window", includeUncontrolled: true }).then(function (list) {
    for (var i = 0; i < list.length; i++) {
      if (list[i].url === target && "focus" in list[i]) return list[i].focus();
    }
    return self.clients.openWindow(target);
  });
}

self.addEventListener("notificationclick", function (event) {
  var n = event.notification;
  var d = n.data || {};
  n.close();
  if (event.action) {
    var chosen = (d.actions || []).filter(function (a) { return a.action === event.action; })[0];
    if (chosen) {
      // Done and Snooze are signed links that act when posted to; Open is a page.
      if (String(chosen.method || "").toUpperCase() === "POST") {
        event.waitUntil(fetch(chosen.url, { method: "POST", credentials: "same-origin" }).catch(function () {
          return openOrFocus(chosen.url);
        }));
        return;
      }
      event.waitUntil(openOrFocus(chosen.url));
      return;
    }
  }
  event.waitUntil(openOrFocus(d.url || "/notifications"));
});
