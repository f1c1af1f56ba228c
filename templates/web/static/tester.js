// Progressive enhancement of the profile tester: preview as you type (the Preview button does
// the same without JavaScript), and default the time zone to the browser's on a fresh subscribe
// form (only it marks the field: a form sent back keeps the zone the person typed).
(function () {
  "use strict";
  var zone = document.querySelector("[data-browser-zone]");
  if (zone && window.Intl) {
    var browserZone = Intl.DateTimeFormat().resolvedOptions().timeZone;
    if (browserZone) { zone.value = browserZone; }
  }
  var out = document.getElementById("tester");
  if (!out || !window.fetch) { return; }
  var timer = null, pending = null, status = document.getElementById("tester-status");
  // An error page (a 500, a proxy's 502) is a whole page: the box says so in one line instead.
  // The tester's own 429 and 410 (the manage page's link expired, or they unsubscribed meanwhile)
  // answers are already a line for this box.
  var FAILED = "<p class=\"error\" role=\"alert\">The preview did not work just now. Try again in a moment, " +
    "or use the Preview button.</p>";
  // The form goes as a POST (with the form's CSRF token), as the Preview button sends it: a stored
  // profile may be longer than a URL can carry. A profile typed over the limit is sent cut just past
  // it: the answer is the same ("at most N characters"), and a pasted page of text stays under the
  // site's body limit. A stored profile (data-stored) left as the page showed it goes whole: it may
  // be longer (added on the command line), and the server previews it as stored, as the button does.
  var maxChars = parseInt(out.getAttribute("data-max-chars"), 10) || 2000;
  function form() {
    var params = new URLSearchParams(), token = document.querySelector("input[name=csrftoken]");
    if (token) { params.set("csrftoken", token.value); }
    document.querySelectorAll("textarea[name=keywords]").forEach(function (t) {
      params.append("keywords", t.hasAttribute("data-stored") && t.value === t.defaultValue ? t.value : t.value.slice(0, maxChars + 1));
    });
    ["more", "max_items", "frequency"].forEach(function (name) {
      var el = document.querySelector("[name=" + name + "]");
      if (el) { params.set(name, el.value); }
    });
    return params;
  }
  function refresh() {
    if (pending) { pending.abort(); }
    pending = new AbortController();
    out.setAttribute("aria-busy", "true");
    fetch(out.getAttribute("data-src"),
          { method: "POST", body: form(), signal: pending.signal, credentials: "same-origin" })
      .then(function (r) { return r.ok || r.status === 429 || r.status === 410 ? r.text() : FAILED; })
      .then(function (html) {
        out.innerHTML = html;
        out.removeAttribute("aria-busy");
        summarise();
      })
      .catch(function (err) {
        if (err.name !== "AbortError") { out.innerHTML = FAILED; }    // aborted: a newer preview is on its way
        out.removeAttribute("aria-busy");
      });
  }
  // The preview's first line (how many papers, or what is wrong) under the keywords (_tester_line):
  // a screen reader hears it, not every paper, and on a phone it is in view while typing, where the
  // papers are below the buttons; "see them" leads there.
  var jump = document.getElementById("tester-jump");
  function summarise() {
    var first = out.querySelector("p"), said = first && first.getAttribute("role") !== "alert";
    if (!status) { return; }
    status.textContent = said ? first.textContent : "";
    status.parentNode.classList.toggle("error", said && first.classList.contains("error"));
    if (jump) { jump.hidden = !out.querySelector(".matches"); }
  }
  var fields = document.querySelectorAll("[data-tester]");
  fields.forEach(function (el) {
    el.addEventListener("input", function () { clearTimeout(timer); timer = setTimeout(refresh, 300); });
  });
  // Back to this page, the browser refills what was typed without an input event: preview it
  // (a value unlike the page's own is one the browser put back; the page's own is previewed already).
  // A list (How often) has no defaultValue: its options say what the page had selected.
  function refilled(el) {
    if (!el.options) { return el.value !== el.defaultValue; }
    return Array.prototype.some.call(el.options, function (o) { return o.selected !== o.defaultSelected; });
  }
  window.addEventListener("pageshow", function () {
    if (Array.prototype.some.call(fields, refilled)) { refresh(); }
  });
}());
