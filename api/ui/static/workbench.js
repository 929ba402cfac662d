// Keyboard shortcuts for reviewers: no framework, no inline script (the page's Content
// Security Policy allows only this file). Case page: 1-4 give a verdict in one press.
(function () {
  "use strict";
  function typing(e) {
    var t = e.target;
    return t && (t.tagName === "INPUT" || t.tagName === "TEXTAREA" || t.tagName === "SELECT");
  }
  function onCase(e) {
    var note = document.getElementById("note");
    if (e.key === "Escape") {
      if (typing(e)) { e.target.blur(); } else { window.location.href = "/ui/queue"; }
      return;
    }
    if (typing(e) || e.ctrlKey || e.metaKey || e.altKey) { return; }
    if (e.key === "n" && note) { e.preventDefault(); note.focus(); return; }
    var button = document.querySelector('#verdict-form button[data-key="' + e.key + '"]');
    if (button) { e.preventDefault(); button.click(); }
  }
  function onQueue(e) {
    if (typing(e) || e.ctrlKey || e.metaKey || e.altKey) { return; }
    var rows = Array.prototype.slice.call(document.querySelectorAll("#queue tbody tr[data-href]"));
    if (!rows.length) { return; }
    var at = rows.findIndex(function (r) { return r.classList.contains("selected"); });
    if (e.key === "j" || e.key === "k") {
      e.preventDefault();
      if (at >= 0) { rows[at].classList.remove("selected"); }
      at = e.key === "j" ? Math.min(rows.length - 1, at + 1) : Math.max(0, at - 1);
      rows[at].classList.add("selected");
      rows[at].scrollIntoView({block: "nearest"});
    } else if (e.key === "Enter") {
      e.preventDefault();
      window.location.href = rows[Math.max(0, at)].getAttribute("data-href");
    }
  }
  document.addEventListener("DOMContentLoaded", function () {
    var page = document.body.getAttribute("data-page");
    if (page === "case") { document.addEventListener("keydown", onCase); }
    if (page === "queue") {
      document.addEventListener("keydown", onQueue);
      document.querySelectorAll("#queue tbody tr[data-href]").forEach(function (r) {
        r.addEventListener("click", function (ev) {
          if (ev.target.tagName !== "A") { window.location.href = r.getAttribute("data-href"); }
        });
      });
    }
  });
})();
