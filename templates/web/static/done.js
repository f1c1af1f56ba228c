// The page after a manage action says what was done ("Saved.", from ?done=save) once: the
// address loses ?done=, so that a reload, a bookmark or a link copied from the address bar
// shows the page without it. Without JavaScript the address keeps it.
(function () {
  "use strict";
  if (!window.URL || !window.history || !history.replaceState) { return; }
  var url = new URL(location.href);
  if (url.searchParams.has("done")) {
    url.searchParams.delete("done");
    url.searchParams.delete("paper");     // which vote was removed (?done=clear_vote)
    history.replaceState(history.state, "", url.href);
  }
}());
