// A form is sent once: a second click while the answer to the first is on its way (a slow mail
// server takes seconds) was a second POST, and a second confirmation mail. The button clicked says
// "Sending…" meanwhile; it is not disabled, which would leave its name and value out of the form
// (Preview would subscribe). Back to the page (the browser's cache keeps it as it was) frees it, and
// so do 10 seconds with the page still here: the visitor stopped the sending (Esc), or it got lost.
(function () {
  "use strict";
  var FREE_AFTER_MS = 10000;
  document.querySelectorAll("form[method=post]").forEach(function (form) {
    var sent = null;
    function free() {
      if (!sent) { return; }
      sent.textContent = sent.getAttribute("data-label");
      sent.removeAttribute("aria-disabled");
      sent = null;
    }
    form.addEventListener("submit", function (event) {
      if (sent) { event.preventDefault(); return; }
      sent = event.submitter || form.querySelector("[type=submit]");
      if (!sent) { return; }
      sent.setAttribute("data-label", sent.textContent);
      sent.setAttribute("aria-disabled", "true");
      sent.textContent = "Sending…";
      setTimeout(free, FREE_AFTER_MS);
    });
    window.addEventListener("pageshow", free);
  });
}());
