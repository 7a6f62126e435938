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

  // A lab that plays sends frames all the time (its clock at least): if none came for a few
  // seconds on a socket that is still open, the server or the network is stuck, and the page
  // says so rather than showing a frozen picture as if it were live. A paused lab sends nothing.
  var STALLED_AFTER_MS = 3000;
  var lastMessage = performance.now();
  document.addEventListener("htmx:wsAfterMessage", function () {
    lastMessage = performance.now();
    var el = document.getElementById("connection");
    if (el && el.dataset.state === "stalled") { setConnection("live", "live"); }
  });
  window.setInterval(function () {
    var el = document.getElementById("connection"), s = status();
    if (!el || !s || (el.dataset.state !== "live" && el.dataset.state !== "stalled")) { return; }
    var silent = performance.now() - lastMessage;
    if (s.dataset.playing === "true" && silent > STALLED_AFTER_MS) {
      setConnection("stalled", "stalled: no update for " + Math.round(silent / 1000) + " s");
    }
  }, 1000);

  // Commands carried by SVG elements. A click on a running machine kills it or powers it off,
  // as the "A click on a machine" menu says; shift-click does the other.
  function machineCommand(target, shift) {
    var command = JSON.parse(target.dataset.command);
    var menu = document.getElementById("fail-how");
    if (command.command === "crash" && ((menu && menu.value === "power_off") !== Boolean(shift))) {
      command.command = "power_off";
    }
    return command;
  }

  // A mouse or pen acts on pointerdown, at once; a finger on click, so that swiping a picture
  // sideways on a phone kills nothing.
  function commandTarget(event) {
    var target = event.target.closest && event.target.closest("[data-command]");
    return target && lab() && lab().contains(target) ? target : null;
  }

  document.addEventListener("pointerdown", function (event) {
    var target = event.button === 0 && event.pointerType !== "touch" && commandTarget(event);
    if (target) {
      event.preventDefault();
      send(machineCommand(target, event.shiftKey));
    }
  });
  document.addEventListener("click", function (event) {
    var target = event.pointerType === "touch" && commandTarget(event);
    if (target) { send(machineCommand(target, event.shiftKey)); }
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

  // The speed menu shows the lab's speed, whoever changed it and however (+ / − keys, another
  // viewer), except while this viewer has it open.
  function syncSpeed() {
    var s = status(), menu = document.getElementById("speed");
    if (!s || !menu || document.activeElement === menu) { return; }
    var speed = Number(s.dataset.speed);
    for (var i = 0; i < menu.options.length; i++) {
      if (Number(menu.options[i].value) === speed && menu.selectedIndex !== i) { menu.selectedIndex = i; }
    }
  }

  document.addEventListener("htmx:wsAfterMessage", syncSlider);
  document.addEventListener("htmx:wsAfterMessage", syncSpeed);

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
    var target = event.key === "Enter" && commandTarget(event);
    if (target) {
      event.preventDefault();
      send(machineCommand(target, event.shiftKey));
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
    } else if (event.key === "PageDown" || event.key === "n" || event.key === "N") {
      // a presenter's clicker sends PageDown and PageUp
      event.preventDefault();
      clickButton("btn-next");
    } else if (event.key === "PageUp" || event.key === "b" || event.key === "B") {
      event.preventDefault();
      clickButton("btn-back");
    } else if (event.key === "+" || event.key === "=") {
      send({command: "faster"});
    } else if (event.key === "-" || event.key === "_") {
      send({command: "slower"});
    } else if (event.key === "?") {
      clickButton("btn-help");
    } else if (event.key === "p" || event.key === "P") {
      setPresenter(!presenting());
    }
  });

  // -- presenter mode ---------------------------------------------------------------
  // The picture, the safety badge and the scenario's key figure (#lab's data-present, in that
  // order) move onto one screen, in big type; the rest of the page stays below them. Frames
  // still find each fragment by its id wherever it stands. This browser remembers the mode.
  var PRESENTER_KEY = "coordlab.presenter";
  var moved = [];

  function presenting() { return document.body.classList.contains("presenter"); }

  function setPresenter(on) {
    var root = lab(), stage = document.getElementById("stage");
    if (!root || !stage || on === presenting()) { return; }
    if (on) {
      var picture = stage.querySelector(".stage-picture"), side = stage.querySelector(".stage-side");
      var step = document.getElementById("presenter-step");
      (root.dataset.present || "").split(" ").forEach(function (id, index) {
        var element = id && document.getElementById(id);
        if (!element || stage.contains(element)) { return; }
        var place = document.createComment("presenter: " + id);
        element.parentNode.insertBefore(place, element);
        moved.push([element, place]);
        if (index === 0) { picture.insertBefore(element, step); } else { side.appendChild(element); }
      });
    } else {
      moved.forEach(function (pair) { pair[1].parentNode.replaceChild(pair[0], pair[1]); });
      moved = [];
    }
    stage.hidden = !on;
    document.body.classList.toggle("presenter", on);
    fitStage();
    var button = document.getElementById("btn-presenter");
    if (button) { button.setAttribute("aria-pressed", on ? "true" : "false"); }
    try { window.localStorage.setItem(PRESENTER_KEY, on ? "on" : ""); } catch (e) { /* private mode */ }
  }

  // The stage takes the height left below the controls, so that nothing on it needs scrolling.
  function fitStage() {
    var stage = document.getElementById("stage");
    if (!stage || stage.hidden) { return; }
    var top = stage.getBoundingClientRect().top + window.scrollY;
    stage.style.setProperty("--fit", Math.max(240, window.innerHeight - top - 12) + "px");
  }

  window.addEventListener("resize", fitStage);

  document.addEventListener("DOMContentLoaded", function () {
    var button = document.getElementById("btn-presenter");
    if (button) { button.addEventListener("click", function () { setPresenter(!presenting()); }); }
    var remembered = "";
    try { remembered = window.localStorage.getItem(PRESENTER_KEY) || ""; } catch (e) { /* private mode */ }
    if (remembered === "on") { setPresenter(true); }
  });

  // -- a record's details, drawn when it is pointed at or focused ----------------
  // (frames carry each record's fields once, as data attributes, not a second time as text)
  function recordDetails(event) {
    var record = event.target.closest && event.target.closest(".strip li.record");
    if (!record || record.querySelector(".record-details")) { return; }
    var d = record.dataset;
    var committed = !record.classList.contains("uncommitted");
    var rows = [["offset", d.offset], ["key", "nullKey" in d ? "null" : d.key],
                ["value", "tombstone" in d ? "null (a tombstone)" : d.value], ["headers", d.headers || "none"],
                ["timestamp", d.time + " s"], ["leader epoch", d.epoch],
                ["committed", committed ? "yes, below the high watermark" : "not yet"]];
    var list = document.createElement("dl");
    list.className = "record-details";
    rows.forEach(function (row) {
      var term = document.createElement("dt"), value = document.createElement("dd");
      term.textContent = row[0];
      value.textContent = row[1];
      list.append(term, value);
    });
    record.appendChild(list);
  }
  document.addEventListener("focusin", recordDetails);
  document.addEventListener("mouseover", recordDetails);

  // -- messages in flight ------------------------------------------------------
  // The server sends a message once, when it leaves (in #lab-flights: where from, where to,
  // when it leaves and lands in virtual time); the page moves it along its line here, at the
  // lab's clock: still while paused, faster at a higher speed, gone after a rewind (a rewind
  // brings the whole list again). Morphing a picture leaves its g.flights layer alone.
  var SVG = "http://www.w3.org/2000/svg";
  var flights = {};
  var clock = {now: 0, at: 0, rate: 0, frame: -1};

  if (window.Idiomorph) {
    // (and the parts of a panel that arrive on their own: the panel carries only their shells)
    Idiomorph.defaults.callbacks.beforeNodeMorphed = function (node, next) {
      if (node.classList && node.classList.contains("flights")) { return false; }
      return !(next && next.hasAttribute && next.hasAttribute("data-shell"));
    };
    // a <details> the viewer opened or closed (a znode's stat, a panel) stays so when a frame updates it
    Idiomorph.defaults.callbacks.beforeAttributeUpdated = function (name, node) {
      return !(name === "open" && node.tagName === "DETAILS");
    };
    // a record's details, drawn here, stay while a frame updates its partition
    Idiomorph.defaults.callbacks.beforeNodeRemoved = function (node) {
      return !(node.classList && node.classList.contains("record-details"));
    };
  }

  function readClock() {
    var s = status();
    if (!s) { return; }
    var moving = s.dataset.playing === "true" && s.dataset.rewound !== "true" && s.dataset.busy !== "true";
    var rate = 0;
    if (moving) {
      rate = Number(s.dataset.speed) || 0;
      if (document.getElementById("lab-behind")) { rate = Number(s.dataset.pace) || rate; }
    }
    var now = Number(s.dataset.now) || 0;
    if (now === clock.frame && rate === (clock.waiting || clock.rate)) { return; }  // not a new frame
    var shown = virtualNow();
    // The page may run ahead of a late frame (a busy server): then the messages wait for the lab
    // where they are instead of stepping back. A rewind or a reset goes back further, and is shown.
    if (moving && rate === (clock.waiting || clock.rate) && now < shown && shown - now <= rate * 1000) {
      clock = {now: shown, at: performance.now(), rate: 0, waiting: rate, frame: now};
    } else {
      clock = {now: now, at: performance.now(), rate: rate, frame: now};
    }
  }

  function virtualNow() {
    // at most a second past the latest frame: if frames stop, so do the messages
    return clock.now + Math.min(performance.now() - clock.at, 1000) * clock.rate;
  }

  function drawFlight(flight) {
    var d = flight.d;  // [id, x1, y1, x2, y2, sent, arrive, doomed, shape, css, mark, label]
    var lost = flight.lostShown;
    var el = document.createElementNS(SVG, lost || d[8] === "text" ? "text" : "circle");
    el.id = "msg-" + d[0];
    el.setAttribute("class", lost ? "msg-lost" : d[9]);
    if (el.tagName === "circle") { el.setAttribute("r", "6"); } else { el.textContent = lost ? "\u2716" : d[10]; }
    var title = document.createElementNS(SVG, "title");
    title.textContent = d[11];
    el.appendChild(title);
    if (flight.el) { flight.el.replaceWith(el); } else { (layer() || {appendChild: function () {}}).appendChild(el); }
    flight.el = el;
  }

  function layer() { return document.querySelector("g.flights"); }

  function forget(id) {
    var flight = flights[id];
    if (flight && flight.el) { flight.el.remove(); }
    delete flights[id];
  }

  function takeFlights() {
    var box = document.getElementById("lab-flights");
    if (!box || box.dataset.taken || box.dataset.mode === "none") { return; }
    box.dataset.taken = "true";
    if (box.dataset.mode === "all") {
      Object.keys(flights).forEach(forget);
      var drawn = layer();
      if (drawn) { drawn.replaceChildren(); }  // the page's first, unmoving drawing
    }
    box.querySelectorAll("i[data-f]").forEach(function (item) {
      var d = JSON.parse(item.dataset.f);
      var flight = flights[d[0]] || {};
      flight.d = d;
      flight.lostShown = false;
      flights[d[0]] = flight;
      drawFlight(flight);
    });
  }

  function moveFlights() {
    var now = virtualNow();
    Object.keys(flights).forEach(function (id) {
      var flight = flights[id];
      var d = flight.d;
      var p = Math.max(0, (now - d[5]) / Math.max(1, d[6] - d[5]));
      if (p >= 1) { forget(id); return; }
      if (d[7] && p >= 0.5) {
        p = 0.5;
        if (!flight.lostShown) { flight.lostShown = true; drawFlight(flight); }
      }
      var x = (d[1] + (d[3] - d[1]) * p).toFixed(1), y = (d[2] + (d[4] - d[2]) * p).toFixed(1);
      if (flight.el.tagName === "circle") {
        flight.el.setAttribute("cx", x); flight.el.setAttribute("cy", y);
      } else {
        flight.el.setAttribute("x", x); flight.el.setAttribute("y", y);
      }
    });
    window.requestAnimationFrame(moveFlights);
  }

  document.addEventListener("htmx:wsAfterMessage", function () { readClock(); takeFlights(); });
  document.addEventListener("DOMContentLoaded", function () {
    readClock();
    takeFlights();
    window.requestAnimationFrame(moveFlights);
  });
})();
