// The stepper: the forward, op by op, then the backward, node by node, in the order the engine
// ran them. Each step marks its op in the graph and shows its tensors in the side panel.
// Every shown tensor carries data-role / data-tensor / data-values attributes, and
// window.tinygenReplay exposes the tape and the stepper, so tests can read what the page shows.
"use strict";

(function () {
  var tape = JSON.parse(document.getElementById("tape").textContent);
  var forwardCount = tape.forward.length, total = forwardCount + tape.backward.length;
  var details = document.getElementById("details");
  var slider = document.getElementById("slider");
  var label = document.getElementById("step-label");
  var current = 0, timer = null;
  var graph = new TinygenGraph(document.getElementById("graph"), tape, jumpToOp);

  function make(tag, className, text, parent) {
    var node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined && text !== null) node.textContent = text;
    if (parent) parent.appendChild(node);
    return node;
  }

  function fmt(v) {
    if (typeof v === "string") return v;  // NaN, Infinity, -Infinity
    if (v === 0) return "0";
    var a = Math.abs(v);
    return a >= 1e4 || a < 1e-3 ? v.toExponential(3) : String(+v.toPrecision(4));
  }

  function tensorName(t) {
    if (t.name) return t.name;
    if (t.id === tape.loss) return "loss";
    if (t.producer !== null) return tape.ops[t.producer].op + " output";
    return t.requires_grad ? "leaf (requires grad)" : "input";
  }

  // ------------------------------------------------------------------ tensor pictures
  function valuesTable(summary, parent) {
    var shape = summary.shape, values = summary.values;
    var cols = shape.length ? shape[shape.length - 1] : 1;
    var table = make("table", "values", null, parent);
    for (var start = 0; start < values.length || start === 0; start += Math.max(cols, 1)) {
      var row = make("tr", null, null, table);
      values.slice(start, start + cols).forEach(function (v) { make("td", null, fmt(v), row); });
      if (!cols) break;
    }
  }

  function histogram(hist, parent) {
    var width = 128, height = 40, most = Math.max.apply(null, hist.counts) || 1;
    var svg = document.createElementNS("http://www.w3.org/2000/svg", "svg");
    svg.setAttribute("width", width); svg.setAttribute("height", height + 14);
    svg.setAttribute("class", "hist");
    var bar = width / hist.counts.length;
    hist.counts.forEach(function (count, i) {
      var h = height * count / most;
      var rect = document.createElementNS(svg.namespaceURI, "rect");
      rect.setAttribute("x", i * bar + 0.5); rect.setAttribute("width", bar - 1);
      rect.setAttribute("y", height - h); rect.setAttribute("height", h);
      rect.setAttribute("fill", "#6f9bd1");
      svg.appendChild(rect);
    });
    [[0, fmt(hist.lo), "start"], [width, fmt(hist.hi), "end"]].forEach(function (tick) {
      var text = document.createElementNS(svg.namespaceURI, "text");
      text.setAttribute("x", tick[0]); text.setAttribute("y", height + 12);
      text.setAttribute("text-anchor", tick[2]); text.textContent = tick[1];
      svg.appendChild(text);
    });
    parent.appendChild(svg);
  }

  // The heat map's bytes: 0..254 from -max|v| (blue) through 0 (white) to +max|v| (red).
  function heatMap(heat, parent) {
    var canvas = make("canvas", "heat", null, parent);
    canvas.width = heat.cols; canvas.height = heat.rows;
    canvas.title = "values / " + fmt(heat.scale) + ": blue negative, red positive";
    var context = canvas.getContext("2d"), image = context.createImageData(heat.cols, heat.rows);
    for (var i = 0; i < heat.rows * heat.cols; i++) {
      var level = parseInt(heat.hex.substr(2 * i, 2), 16), o = 4 * i;
      if (level === 255) { image.data[o + 3] = 0; continue; }
      var s = level / 127 - 1, k = Math.round(255 * (1 - Math.abs(s)));
      image.data[o] = s > 0 ? 255 : k; image.data[o + 1] = k;
      image.data[o + 2] = s < 0 ? 255 : k; image.data[o + 3] = 255;
    }
    context.putImageData(image, 0, 0);
  }

  function statsLine(stats) {
    var text = "mean " + fmt(stats.mean) + "  std " + fmt(stats.std) + "  min " +
      fmt(stats.min) + "  max " + fmt(stats.max) + "  |.| " + fmt(stats.norm);
    return stats.nonfinite ? text + "  non-finite " + stats.nonfinite : text;
  }

  // One tensor (or gradient) box: caption, shape and dtype, then values or pictures.
  function tensorBox(parent, caption, summary, role, tensor) {
    var box = make("div", "tensor-box", null, parent);
    box.dataset.role = role;
    if (tensor) { box.dataset.tensor = tensor.id; box.dataset.name = tensor.name; }
    make("div", "caption", caption, box);
    if (!summary) { make("div", "note", "none", box); return box; }
    make("div", "meta", "(" + summary.shape.join(", ") + ") " + summary.dtype +
      (summary.n > tape.small ? ", " + summary.n + " elements" : ""), box);
    if (summary.values) {
      box.dataset.values = JSON.stringify(summary.values);
      valuesTable(summary, box);
    } else if (summary.stats) {
      make("div", "stats", statsLine(summary.stats), box);
      var pictures = make("div", "pictures", null, box);
      if (summary.hist) histogram(summary.hist, pictures);
      if (summary.heat) heatMap(summary.heat, pictures);
    }
    return box;
  }

  // ------------------------------------------------------------------ one step
  function outputsOf(opId) {
    return tape.tensors.filter(function (t) { return t.producer === opId; });
  }

  function opHeader(op, phase, index, count) {
    make("h2", null, phase + " " + (index + 1) + " of " + count + ": " + op.op, details);
    make("div", "site", [op.module, op.call_site].filter(Boolean).join("  at  ") ||
      "(run the forward inside tinygen.debug.record() to see call sites)", details);
  }

  function showForward(index) {
    var op = tape.ops[tape.forward[index]];
    opHeader(op, "Forward", index, forwardCount);
    make("h3", null, "inputs", details);
    op.inputs.forEach(function (id) {
      var t = tape.tensors[id];
      tensorBox(details, tensorName(t) + (t.kind === "parameter" ? " (parameter)" : ""),
        t.value, "value", t);
    });
    make("h3", null, "output", details);
    outputsOf(op.id).forEach(function (t) {
      tensorBox(details, tensorName(t), t.value, "value", t);
    });
    return { op: op.id, inputs: op.inputs, outputs: outputsOf(op.id).map(idOf),
      done: new Set(tape.forward.slice(0, index + 1)) };
  }

  function idOf(t) { return t.id; }

  function showBackward(index) {
    var step = tape.backward[index], op = tape.ops[step.op];
    opHeader(op, "Backward", index, tape.backward.length);
    if (op.derivation) make("div", "derivation", op.derivation, details);
    make("h3", null, "upstream gradient (dL/d output)", details);
    step.upstream.forEach(function (g, k) {
      var several = step.upstream.length > 1;
      tensorBox(details, "dL/d output" + (several ? " " + k : ""), g, "upstream");
    });
    make("h3", null, "to each input", details);
    op.inputs.forEach(function (id, k) {
      var t = tape.tensors[id], entry = make("div", "input-entry", null, details);
      make("div", "caption", "input " + k + ": " + tensorName(t), entry);
      if (!step.local[k]) {
        make("div", "note", "no gradient (it does not require grad)", entry);
        return;
      }
      var flow = make("div", "flow", null, entry);
      make("div", "label", "local gradient (this op's part of dL/d input)", flow);
      tensorBox(flow, "local", step.local[k], "local", t);
      make("div", "label", step.before[k] ? "accumulated before this step" :
        "accumulated before this step: nothing yet (first gradient to reach it)", flow);
      if (step.before[k]) tensorBox(flow, "before", step.before[k], "before", t);
      make("div", "label", "accumulated after: before + local" +
        (t.producer === null ? " (becomes .grad)" : ""), flow);
      tensorBox(flow, "after", step.after[k], "accumulated", t);
    });
    if (index === tape.backward.length - 1) showFinalGrads();
    var done = new Set(tape.backward.slice(0, index + 1).map(function (s) { return s.op; }));
    return { op: op.id, inputs: op.inputs, outputs: outputsOf(op.id).map(idOf), done: done };
  }

  function showFinalGrads() {
    make("h3", null, "gradients of the leaves (what .grad will hold)", details);
    Object.keys(tape.grads).forEach(function (id) {
      var t = tape.tensors[+id];
      tensorBox(details, tensorName(t) + ".grad", tape.grads[id], "grad", t);
    });
  }

  function go(step) {
    current = Math.max(0, Math.min(total - 1, step));
    slider.value = current;
    details.innerHTML = "";
    var backward = current >= forwardCount;
    label.textContent = (backward ? "backward " + (current - forwardCount + 1) + "/" +
      tape.backward.length : "forward " + (current + 1) + "/" + forwardCount) +
      "  (step " + (current + 1) + " of " + total + ")";
    graph.mark(backward ? showBackward(current - forwardCount) : showForward(current));
    document.body.dataset.step = current;
    document.body.dataset.phase = backward ? "backward" : "forward";
  }

  // A click on an op jumps to its step in the phase being shown.
  function jumpToOp(opId) {
    if (current >= forwardCount) {
      var k = tape.backward.findIndex(function (s) { return s.op === opId; });
      if (k >= 0) go(forwardCount + k);
    } else {
      go(tape.forward.indexOf(opId));
    }
  }

  function togglePlay() {
    var button = document.getElementById("play");
    if (timer) { clearInterval(timer); timer = null; button.textContent = "play"; return; }
    button.textContent = "pause";
    timer = setInterval(function () {
      if (current >= total - 1) togglePlay(); else go(current + 1);
    }, 600);
  }

  // ------------------------------------------------------------------ wiring
  slider.max = total - 1;
  slider.addEventListener("input", function () { go(+slider.value); });
  var buttons = { first: function () { go(0); }, prev: function () { go(current - 1); },
    next: function () { go(current + 1); }, last: function () { go(total - 1); },
    play: togglePlay,
    fold: function () { graph.foldByModule(); graph.render(); },
    unfold: function () { graph.folded = new Set(); graph.render(); } };
  Object.keys(buttons).forEach(function (id) {
    document.getElementById(id).addEventListener("click", buttons[id]);
  });
  document.addEventListener("keydown", function (event) {
    if (event.target === slider) return;  // the slider moves itself with the arrow keys
    var keys = { ArrowRight: current + 1, ArrowLeft: current - 1, Home: 0, End: total - 1 };
    if (event.key in keys) { go(keys[event.key]); event.preventDefault(); }
    if (event.key === " ") { togglePlay(); event.preventDefault(); }
  });
  graph.render();
  go(0);
  window.tinygenReplay = { tape: tape, go: go, graph: graph, total: total,
    forwardCount: forwardCount, step: function () { return current; } };
})();
