// The sign-up form as this tab last sent it, for "Wrong address? Correct it" on Check your inbox,
// which opens /?again: kept in this tab alone (sessionStorage), never in a URL or on the server, and
// only until the next page of this site but Check your inbox (data-keeps-typed): the form refilled
// from it, the subscription confirmed in this tab, or the visitor gone on elsewhere on the site.
(function () {
  "use strict";
  var store = null;
  try { store = window.sessionStorage; } catch (blocked) { return; }     // site data blocked: it throws
  if (!store) { return; }
  var kept = store.getItem("signup");
  if (!document.body.hasAttribute("data-keeps-typed")) { store.removeItem("signup"); }
  var signup = document.getElementById("signup");
  if (!signup) { return; }
  signup.addEventListener("submit", function () {
    var typed = new FormData(signup);
    typed.delete("csrftoken");
    store.setItem("signup", new URLSearchParams(typed).toString());
  });
  if (location.search === "?again" && kept) { refill(signup, new URLSearchParams(kept)); }
  function refill(form, typed) {
    typed.forEach(function (value, name) {
      form.querySelectorAll("[name=" + name + "]").forEach(function (el) {
        if (el.type === "radio") { el.checked = el.value === value; } else { el.value = value; }
      });
    });
    form.elements.email.focus();
    form.elements.email.select();
  }
}());
