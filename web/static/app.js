// Live operation log: follows the operation's server-sent events, then shows the final state.
(function () {
  var log = document.getElementById("op-log");
  if (!log || !window.EventSource) return;
  var state = document.getElementById("op-state");
  if (["succeeded", "failed", "cancelled"].indexOf(state.dataset.state) >= 0) return;
  var seen = {};
  log.querySelectorAll("li[data-id]").forEach(function (li) { seen[li.dataset.id] = true; });
  var source = new EventSource(log.dataset.stream);
  source.onmessage = function (ev) {
    var e = JSON.parse(ev.data);
    if (seen[e.id]) return;
    seen[e.id] = true;
    var li = document.createElement("li");
    li.textContent = new Date(e.at).toLocaleTimeString() + " " + e.message;
    log.appendChild(li);
  };
  ["queued", "started", "progress", "succeeded", "failed", "cancelled", "output", "info"].forEach(function (k) {
    source.addEventListener(k, source.onmessage);
  });
  source.onerror = function () {
    source.close();
    // The stream ends when the operation is final: reload once to show the outcome.
    setTimeout(function () { window.location.reload(); }, 300);
  };
})();
