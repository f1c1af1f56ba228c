// "Check your inbox" while the tab waits: the address may be confirmed meanwhile, from the mail in
// another tab or on a phone. When the tab is back in view (or the browser brings the page back from
// its cache), the page is asked for again, and shown anew if it now says something else ("You are
// subscribed"): the tab no longer asks to confirm, nor offers to correct, an address confirmed.
(function () {
  "use strict";
  if (!window.fetch || !window.DOMParser) { return; }
  var asking = false;
  function recheck() {
    if (asking || document.visibilityState === "hidden") { return; }
    asking = true;
    fetch(location.href, { cache: "no-store" }).then(function (answer) {
      return answer.ok ? answer.text() : "";        // a busy or failing server: the page stays as it is
    }).then(function (text) {
      var title = new DOMParser().parseFromString(text, "text/html").title;
      if (title && title !== document.title) { location.reload(); }
    }).catch(function () { /* offline: the page stays as it is */ }).then(function () { asking = false; });
  }
  document.addEventListener("visibilitychange", recheck);
  window.addEventListener("focus", recheck);
  window.addEventListener("pageshow", function (event) { if (event.persisted) { recheck(); } });
}());
