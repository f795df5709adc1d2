// Live operation log: follows the operation's server-sent events, then shows the final state.
// The server sends every event unnamed, with its kind in the data: no list of kinds to keep in step here.
(function () {
  var log = document.getElementById("op-log");
  if (!log || !window.EventSource) return;
  var state = document.getElementById("op-state");
  var FINAL = (state.dataset.final || "succeeded failed cancelled").split(" ");
  if (FINAL.indexOf(state.dataset.state) >= 0) return;
  var seen = {};
  log.querySelectorAll("li[data-id]").forEach(function (li) { seen[li.dataset.id] = true; });
  function started() {
    if (state.dataset.state !== "queued") return;
    state.textContent = "running";
    state.dataset.state = "running";
  }
  if (log.querySelector('li[data-kind="running"]')) started();
  var source = new EventSource(log.dataset.stream);
  source.onmessage = function (ev) {
    var e = JSON.parse(ev.data);
    if (seen[e.id]) return;
    seen[e.id] = true;
    var li = document.createElement("li");
    li.dataset.id = e.id;
    li.dataset.kind = e.kind;
    var at = document.createElement("span");
    at.className = "muted";
    at.textContent = new Date(e.at).toLocaleTimeString([], {hour12: false});
    var kind = document.createElement("span");
    kind.className = "kind";
    kind.textContent = e.kind;
    li.appendChild(at);
    li.appendChild(document.createTextNode(" "));
    li.appendChild(kind);
    li.appendChild(document.createTextNode(" " + e.message));
    log.appendChild(li);
    // The final state is shown by the reload below, with helm's message; until then show it has started.
    if (e.kind === "running") started();
  };
  source.onerror = function () {
    source.close();
    // The stream ends when the operation is final: reload once to show the outcome and helm's message.
    setTimeout(function () { window.location.reload(); }, 300);
  };
})();

// Live rollout page: each server-sent event (or progress note) re-fetches the waves and clusters part.
(function () {
  var live = document.getElementById("rollout-live");
  if (!live || !window.EventSource || !window.fetch) return;
  var FINAL = ["succeeded", "aborted", "superseded"];
  var pending = null, source = null;
  function stateOf() {
    var s = document.getElementById("rollout-state");
    return s ? s.dataset.state : "";
  }
  function refresh(then) {
    // Leave the page alone while someone is ticking clusters to skip.
    if (live.querySelector("input[name=clusters]:checked")) { if (then) then(); return; }
    fetch(live.dataset.fragment, {credentials: "same-origin"}).then(function (r) {
      return r.ok ? r.text() : null;
    }).then(function (html) {
      if (html !== null) live.innerHTML = html;
      if (then) then();
    }).catch(function () { if (then) then(); });
  }
  function soon() {
    if (pending) return;
    pending = setTimeout(function () { pending = null; refresh(); }, 150);
  }
  function open() {
    source = new EventSource(live.dataset.stream);
    // Every event is followed by a "progress" note, whatever the engine named the event itself.
    source.addEventListener("progress", soon);
    source.onerror = function () {
      // The stream ends when the rollout is final; otherwise (a restart, a proxy) reconnect shortly.
      source.close();
      refresh(function () { if (FINAL.indexOf(stateOf()) < 0) setTimeout(open, 2000); });
    };
  }
  if (FINAL.indexOf(stateOf()) < 0) open();
})();
