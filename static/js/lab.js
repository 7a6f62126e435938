// The little a lab page needs beyond htmx: commands carried by SVG elements
// (data-command, sent on pointerdown or Enter), presenter keyboard shortcuts,
// and the rewind slider, which frames must not move while it is dragged.
(function () {
  "use strict";
  var socket = null;

  function lab() { return document.getElementById("lab"); }
  function status() { return document.getElementById("lab-status"); }

  function send(command) {
    if (socket) { socket.send(JSON.stringify(command), lab()); }
  }

  function clickButton(id) {
    var button = document.getElementById(id);
    if (button) { button.click(); }
  }

  function setConnection(state, text) {
    var el = document.getElementById("connection");
    if (el) { el.dataset.state = state; el.textContent = text; }
  }

  document.addEventListener("htmx:wsOpen", function (event) {
    socket = event.detail.socketWrapper;
    setConnection("live", "live");
  });
  document.addEventListener("htmx:wsClose", function () {
    setConnection("closed", "disconnected: reconnecting…");
  });

  // Commands carried by SVG elements.
  document.addEventListener("pointerdown", function (event) {
    if (event.button !== 0) { return; }
    var target = event.target.closest("[data-command]");
    if (target && lab() && lab().contains(target)) {
      event.preventDefault();
      send(JSON.parse(target.dataset.command));
    }
  });

  var seek = null;
  var dragging = false;

  function syncSlider() {
    var s = status();
    seek = seek || document.getElementById("lab-seek");
    if (!s || !seek || dragging) { return; }
    seek.max = s.dataset.horizon;
    seek.value = s.dataset.now;
  }

  document.addEventListener("htmx:wsAfterMessage", syncSlider);

  document.addEventListener("DOMContentLoaded", function () {
    seek = document.getElementById("lab-seek");
    if (seek) {
      seek.addEventListener("input", function () { dragging = true; });
      seek.addEventListener("change", function () {
        dragging = false;
        send({command: "seek", time_ms: Number(seek.value)});
      });
    }
    var treeServer = document.getElementById("zk-tree-server");
    if (treeServer) {
      treeServer.addEventListener("change", function () {
        document.getElementById("zk-tree-view").dataset.show = treeServer.value;
      });
    }
    var help = document.getElementById("help");
    var helpButton = document.getElementById("btn-help");
    if (help && helpButton) {
      helpButton.addEventListener("click", function () { help.open ? help.close() : help.showModal(); });
    }
  });

  document.addEventListener("keydown", function (event) {
    var tag = event.target.tagName;
    if (tag === "INPUT" || tag === "SELECT" || tag === "TEXTAREA" || event.ctrlKey || event.metaKey || event.altKey) {
      return;
    }
    var commandTarget = event.target.closest && event.target.closest("[data-command]");
    if (commandTarget && event.key === "Enter") {
      event.preventDefault();
      send(JSON.parse(commandTarget.dataset.command));
      return;
    }
    // Space is always play/pause, even on a focused button (a presenter's
    // clicker sends it after any mouse click); Enter still presses buttons.
    var s = status();
    if (event.key === " ") {
      event.preventDefault();
      clickButton(s && s.dataset.playing === "true" ? "btn-pause" : "btn-play");
    } else if (event.key === "ArrowRight") {
      event.preventDefault();
      clickButton("btn-step");
    } else if (event.key === "+" || event.key === "=") {
      send({command: "faster"});
    } else if (event.key === "-" || event.key === "_") {
      send({command: "slower"});
    } else if (event.key === "?") {
      clickButton("btn-help");
    }
  });
})();
