// The graph view: a layered drawing of the tape's ops and tensors in SVG, folded by module.
// No library: layers are longest paths in forward order, and each layer is ordered by a few
// sweeps of the barycentre heuristic, which is enough to keep edges short on these graphs.
"use strict";

var TinygenGraph = (function () {
  var SVG = "http://www.w3.org/2000/svg";
  var LAYER_GAP = 34, NODE_GAP = 18, MARGIN = 16, CHAR = 6.4;
  var FOLD_ABOVE = 40;  // graphs with more ops than this open folded by module

  function el(name, attrs, parent) {
    var node = document.createElementNS(SVG, name);
    for (var key in attrs) node.setAttribute(key, attrs[key]);
    if (parent) parent.appendChild(node);
    return node;
  }

  function shapeText(shape) { return "(" + shape.join(", ") + ")"; }

  // The longest common module prefix of two paths ("" when they share none).
  function common(a, b) {
    var x = a.split("."), y = b.split("."), n = 0;
    while (n < x.length && n < y.length && x[n] === y[n]) n++;
    return x.slice(0, n).join(".");
  }

  // Every op and tensor gets a module path: ops have their own; an intermediate tensor is
  // its producer's; a leaf (a parameter, a mask) belongs to the innermost module that holds
  // every op reading it, so data read at the top stays at the top, and so does the loss.
  function modulePaths(tape) {
    var paths = {};
    tape.ops.forEach(function (op) { paths["o" + op.id] = op.module; });
    tape.tensors.forEach(function (t) {
      if (t.producer !== null) paths["t" + t.id] = tape.ops[t.producer].module;
    });
    tape.ops.forEach(function (op) {
      op.inputs.forEach(function (id) {
        if (tape.tensors[id].producer !== null) return;
        var key = "t" + id;
        paths[key] = key in paths ? common(paths[key], op.module) : op.module;
      });
    });
    paths["t" + tape.loss] = "";
    return paths;
  }

  // Order key of a node in forward time: ops by their index, a tensor just after the op
  // that made it, a leaf just before its first reader.
  function orderKeys(tape) {
    var keys = {};
    tape.ops.forEach(function (op) {
      keys["o" + op.id] = op.id;
      op.inputs.forEach(function (id) {
        if (!("t" + id in keys)) {
          var t = tape.tensors[id];
          keys["t" + id] = t.producer === null ? op.id - 0.5 : t.producer + 0.5;
        }
      });
    });
    keys["t" + tape.loss] = tape.ops.length;
    return keys;
  }

  function Graph(container, tape, onClickOp) {
    this.container = container;
    this.tape = tape;
    this.onClickOp = onClickOp;
    this.paths = modulePaths(tape);
    this.keys = orderKeys(tape);
    this.folded = new Set();
    this.elements = {};
    this.highlight = null;
    var fold = tape.fold === undefined || tape.fold === null ?
      tape.ops.length > FOLD_ABOVE : tape.fold;
    if (fold) this.foldByModule();
  }

  // The module prefixes of a path: "A.b.0" -> ["A", "A.b", "A.b.0"].
  function prefixes(path) {
    if (!path) return [];
    var parts = path.split("."), out = [];
    for (var i = 1; i <= parts.length; i++) out.push(parts.slice(0, i).join("."));
    return out;
  }

  Graph.prototype.opsUnder = function (prefix) {
    return this.tape.ops.filter(function (op) {
      return op.module === prefix || op.module.indexOf(prefix + ".") === 0;
    }).length;
  };

  // Fold each module one level below the outermost one (PixelCNN.blocks, PixelCNN.head...).
  Graph.prototype.foldByModule = function () {
    var self = this, candidates = new Set();
    this.folded = new Set();
    this.tape.ops.forEach(function (op) {
      var p = prefixes(op.module);
      if (p.length >= 2) candidates.add(p[1]);
    });
    candidates.forEach(function (prefix) {
      if (self.opsUnder(prefix) > 1) self.folded.add(prefix);
    });
  };

  // Unfold one group: its own ops appear, its sub-modules with several ops stay folded.
  Graph.prototype.unfold = function (prefix) {
    var self = this, depth = prefix.split(".").length;
    this.folded.delete(prefix);
    this.tape.ops.forEach(function (op) {
      var p = prefixes(op.module);
      if (p.length > depth && p[depth - 1] === prefix && self.opsUnder(p[depth]) > 1) {
        self.folded.add(p[depth]);
      }
    });
  };

  // The node that stands for a node now: itself, or the outermost folded group it is in.
  Graph.prototype.visible = function (id) {
    var p = prefixes(this.paths[id]);
    for (var i = 0; i < p.length; i++) if (this.folded.has(p[i])) return "g:" + p[i];
    return id;
  };

  Graph.prototype.buildVisible = function () {
    var self = this, nodes = {}, edges = {};
    function node(id) {
      var v = self.visible(id);
      if (!nodes[v]) nodes[v] = { id: v, key: self.keys[id], members: [] };
      nodes[v].key = Math.min(nodes[v].key, self.keys[id]);
      nodes[v].members.push(id);
      return v;
    }
    function edge(a, b) { if (a !== b) edges[a + ">" + b] = [a, b]; }
    this.tape.ops.forEach(function (op) {
      var o = node("o" + op.id);
      op.inputs.forEach(function (id) { edge(node("t" + id), o); });
    });
    this.tape.tensors.forEach(function (t) {
      var v = node("t" + t.id);
      if (t.producer !== null) edge(node("o" + t.producer), v);
    });
    return { nodes: nodes, edges: Object.keys(edges).map(function (k) { return edges[k]; }) };
  };

  Graph.prototype.label = function (v) {
    var tape = this.tape;
    if (v.id.indexOf("g:") === 0) {
      var prefix = v.id.slice(2), count = this.opsUnder(prefix);
      return { kind: "group", lines: ["\u25B8 " + prefix, count + " ops (click to unfold)"] };
    }
    if (v.id[0] === "o") {
      var op = tape.ops[+v.id.slice(1)];
      var where = [op.module, op.call_site].filter(Boolean).join("  ");
      return { kind: "op", lines: [op.op, where] };
    }
    var t = tape.tensors[+v.id.slice(1)];
    var head = t.name ? t.name + " " : (t.id === tape.loss ? "loss " : "");
    return { kind: "tensor " + t.kind, lines: [head + shapeText(t.shape) + " " + t.dtype] };
  };

  // A topological order of the visible nodes (Kahn's, earliest in forward time first). A
  // folded module can close a cycle (a module called twice with an op between); then the
  // earliest remaining node goes next and its edges from later nodes are not followed.
  function topological(view) {
    var ids = Object.keys(view.nodes), indegree = {}, out = {}, order = [], placed = {};
    ids.forEach(function (id) { indegree[id] = 0; out[id] = []; });
    view.edges.forEach(function (e) { indegree[e[1]]++; out[e[0]].push(e[1]); });
    var byKey = function (a, b) { return view.nodes[a].key - view.nodes[b].key; };
    var ready = ids.filter(function (id) { return !indegree[id]; }).sort(byKey);
    while (order.length < ids.length) {
      if (!ready.length) {
        ready = [ids.filter(function (id) { return !placed[id]; }).sort(byKey)[0]];
      }
      var id = ready.shift();
      if (placed[id]) continue;
      placed[id] = true;
      order.push(id);
      out[id].forEach(function (next) {
        if (!placed[next] && --indegree[next] === 0) ready.push(next);
      });
      ready.sort(byKey);
    }
    return order;
  }

  // Layers by longest path along the topological order, then barycentre sweeps.
  Graph.prototype.layout = function (view) {
    var ids = topological(view), rank = {};
    ids.forEach(function (id, i) { rank[id] = i; });
    var preds = {}, succs = {}, layer = {};
    ids.forEach(function (id) { preds[id] = []; succs[id] = []; });
    view.edges.forEach(function (e) {
      if (rank[e[0]] < rank[e[1]]) { preds[e[1]].push(e[0]); succs[e[0]].push(e[1]); }
    });
    ids.forEach(function (id) {
      layer[id] = 0;
      preds[id].forEach(function (p) { layer[id] = Math.max(layer[id], layer[p] + 1); });
    });
    // a leaf (a parameter, the targets) sits just above its first reader, not at the top
    ids.forEach(function (id) {
      if (preds[id].length || !succs[id].length) return;
      layer[id] = Math.min.apply(null, succs[id].map(function (s) { return layer[s]; })) - 1;
    });
    var layers = [];
    ids.forEach(function (id) { (layers[layer[id]] = layers[layer[id]] || []).push(id); });
    layers = layers.filter(Boolean);
    var position = {};
    function number() {
      layers.forEach(function (row) { row.forEach(function (id, i) { position[id] = i; }); });
    }
    function sweep(row, neighbours) {
      var centre = {};
      row.forEach(function (id) {
        var n = neighbours[id];
        centre[id] = n.length ? n.reduce(function (s, x) { return s + position[x]; }, 0) /
          n.length : position[id];
      });
      row.sort(function (a, b) { return centre[a] - centre[b]; });
    }
    number();
    for (var pass = 0; pass < 4; pass++) {
      layers.forEach(function (row) { sweep(row, preds); }); number();
      layers.slice().reverse().forEach(function (row) { sweep(row, succs); }); number();
    }
    return layers;
  };

  Graph.prototype.render = function () {
    var self = this, view = this.buildVisible(), layers = this.layout(view);
    var boxes = {}, width = 0, y = MARGIN;
    layers.forEach(function (row) {
      var x = MARGIN, height = 0;
      row.forEach(function (id) {
        var label = self.label(view.nodes[id]);
        var w = Math.max.apply(null, label.lines.map(function (s) { return s.length; })) *
          CHAR + 18;
        var h = label.lines.length * 14 + 10;
        boxes[id] = { x: x, y: y, w: w, h: h, label: label };
        x += w + NODE_GAP; height = Math.max(height, h);
      });
      row.width = x - NODE_GAP;
      width = Math.max(width, row.width);
      y += height + LAYER_GAP;
    });
    layers.forEach(function (row) {  // centre each layer
      var shift = (width - row.width) / 2;
      row.forEach(function (id) { boxes[id].x += shift; });
    });
    this.container.innerHTML = "";
    var svg = el("svg", { width: width + MARGIN, height: y, id: "graph-svg" }, this.container);
    var edgeLayer = el("g", {}, svg), nodeLayer = el("g", {}, svg);
    view.edges.forEach(function (e) {
      var a = boxes[e[0]], b = boxes[e[1]];
      var x1 = a.x + a.w / 2, y1 = a.y + a.h, x2 = b.x + b.w / 2, y2 = b.y;
      var mid = (y1 + y2) / 2;
      el("path", { "class": "edge", d: "M" + x1 + "," + y1 + " C" + x1 + "," + mid + " " +
        x2 + "," + mid + " " + x2 + "," + y2 }, edgeLayer);
    });
    this.elements = {};
    Object.keys(boxes).forEach(function (id) {
      var box = boxes[id];
      var g = el("g", { "class": "node " + box.label.kind, "data-node": id,
        transform: "translate(" + box.x + "," + box.y + ")" }, nodeLayer);
      el("rect", { width: box.w, height: box.h, rx: box.label.kind === "op" ? 6 : 11 }, g);
      box.label.lines.forEach(function (line, i) {
        var text = el("text", { x: 9, y: 16 + 14 * i, "class": i ? "subtle" : "" }, g);
        text.textContent = line;
      });
      g.addEventListener("click", function () { self.click(id); });
      self.elements[id] = g;
    });
    this.view = view;
    if (this.highlight) this.mark(this.highlight);
  };

  Graph.prototype.click = function (id) {
    if (id.indexOf("g:") === 0) {
      this.unfold(id.slice(2));
      this.render();
    } else if (id[0] === "o") {
      this.onClickOp(+id.slice(1));
    }
  };

  // Mark the current step: its op, its inputs and its output; ops not yet run are faded.
  Graph.prototype.mark = function (h) {
    var self = this;
    this.highlight = h;
    Object.keys(this.elements).forEach(function (id) {
      var cls = self.elements[id].classList;
      cls.remove("current", "input-of", "output-of", "pending", "visited");
      var members = self.view.nodes[id].members.filter(function (m) { return m[0] === "o"; });
      if (!members.length) return;
      var done = members.some(function (m) { return h.done.has(+m.slice(1)); });
      cls.add(done ? "visited" : "pending");
    });
    h.inputs.forEach(function (t) { self.addClass("t" + t, "input-of"); });
    h.outputs.forEach(function (t) { self.addClass("t" + t, "output-of"); });
    var current = this.addClass("o" + h.op, "current");
    if (current && current.scrollIntoView) {
      current.scrollIntoView({ block: "nearest", inline: "nearest" });
    }
  };

  Graph.prototype.addClass = function (id, name) {
    var g = this.elements[this.visible(id)];
    if (g) { g.classList.remove("pending"); g.classList.add(name); }
    return g;
  };

  return Graph;
})();
