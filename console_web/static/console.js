// The review queue's keyboard: j / k move between items, x selects one, e closes it as
// "no issue", ? shows the keys. Every key is also a button on the page, and the keys can be
// switched off (WCAG 2.1.4: single-key shortcuts must be able to be turned off); the choice
// is kept in this browser. Served from the console itself: the pages allow only their own
// scripts, and none inline.
(function () {
  "use strict";
  var items = Array.prototype.slice.call(document.querySelectorAll("[data-item]"));
  var toggle = document.getElementById("keys-toggle");
  var help = document.getElementById("keys-help");
  var on = function () { return window.localStorage.getItem("imt-keys") !== "off"; };
  var label = function () {
    if (toggle) { toggle.textContent = "Keyboard shortcuts: " + (on() ? "on" : "off"); }
  };
  if (toggle) {
    toggle.addEventListener("click", function () {
      window.localStorage.setItem("imt-keys", on() ? "off" : "on");
      label();
    });
  }
  label();
  if (!items.length) { return; }
  var at = 0;
  var focus = function (i) {
    at = Math.max(0, Math.min(items.length - 1, i));
    items[at].focus();
  };
  document.addEventListener("keydown", function (e) {
    if (!on() || e.altKey || e.ctrlKey || e.metaKey) { return; }
    var t = e.target;
    if (t && (t.tagName === "INPUT" || t.tagName === "TEXTAREA" || t.tagName === "SELECT")) { return; }
    var current = items.indexOf(document.activeElement);
    if (current >= 0) { at = current; }
    if (e.key === "j") { focus(at + 1); }
    else if (e.key === "k") { focus(at - 1); }
    else if (e.key === "x") {
      var box = items[at].querySelector("input[type=checkbox]");
      if (box) { box.checked = !box.checked; }
    }
    else if (e.key === "e") {
      var close = items[at].querySelector("button[value=no_issue]");
      if (close) { close.click(); }
    }
    else if (e.key === "?") { if (help) { help.hidden = !help.hidden; } }
    else { return; }
    e.preventDefault();
  });
  focus(0);
})();
