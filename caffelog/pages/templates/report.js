/* caffelog report: draws the charts of the JSON block with uPlot, and the heatmaps on canvases.
   Names and values from the log only ever reach the page as textContent or canvas text. */
(function () {
  "use strict";
  var data = JSON.parse(document.getElementById("caffelog-data").textContent);
  var COLORS = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f",
                "#bcbd22", "#17becf"];
  var DASHES = [[], [6, 3], [2, 3], [10, 3, 2, 3]];
  var BAD = "#d0006f";
  var manyRuns = document.querySelectorAll("#runs .run").length > 1;
  var charts = [];

  function buffer(text) {
    var bin = atob(text), out = new Uint8Array(bin.length);
    for (var i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
    return out.buffer;
  }
  function f64(t) { return new Float64Array(buffer(t)); }
  function f32(t) { return new Float32Array(buffer(t)); }
  function u32(t) { return new Uint32Array(buffer(t)); }

  function fmt(v) {
    if (v !== v) return "nan";
    if (v === Infinity) return "inf";
    if (v === -Infinity) return "-inf";
    if (v === 0) return "0";
    var a = Math.abs(v);
    return (a >= 1e5 || a < 1e-3) ? v.toExponential(5).replace(/\.?0+e/, "e") : String(+v.toPrecision(6));
  }
  function tick(v) { return v == null ? "" : fmt(v); }
  /* x ticks at whole iterations (1, 2, 5 x 10^k): no "iteration 2.5" */
  var WHOLE_STEPS = [];
  for (var k = 0; k < 12; k++) [1, 2, 5].forEach(function (m) { WHOLE_STEPS.push(m * Math.pow(10, k)); });

  /* One chart: the x slots, and per curve what to draw (null where not positive and finite)
     beside what was logged (value, iteration, line) for the legend. */
  function decode(spec) {
    var xs = f64(spec.x);
    var curves = spec.curves.map(function (c) {
      var y = f32(c.y), line = u32(c.line), it = c.it ? f64(c.it) : xs;
      return { label: c.label, run: c.run, kind: c.kind, y: y, line: line, it: it };
    });
    return { xs: xs, curves: curves, binned: spec.binned };
  }

  function drawable(c, log) {
    var out = new Array(c.y.length);
    for (var i = 0; i < c.y.length; i++) {
      var v = c.y[i];
      out[i] = (c.line[i] === 0 || !isFinite(v) || (log && v <= 0)) ? null : (log ? Math.log10(v) : v);
    }
    return out;
  }

  function styleOf(curve, kinds) {
    var k = kinds.indexOf(curve.kind);
    if (manyRuns) return { stroke: COLORS[curve.run % 10], dash: DASHES[k % DASHES.length] };
    return { stroke: COLORS[k % 10], dash: /\(segment [1-9]/.test(curve.label) ? [6, 3] : [] };
  }

  /* Zeros on the bottom edge, nan/inf on the top edge, in the curve's colour (nan/inf outlined). */
  function marks(decoded, log) {
    return function (u) {
      var ctx = u.ctx, b = u.bbox;
      decoded.curves.forEach(function (c, k) {
        if (!u.series[k + 1].show) return;
        for (var i = 0; i < c.y.length; i++) {
          var v = c.y[i];
          if (c.line[i] === 0 || (isFinite(v) && !(log && v <= 0))) continue;
          var x = u.valToPos(decoded.xs[i], "x", true);
          if (x < b.left || x > b.left + b.width) continue;
          var bad = !isFinite(v);
          ctx.fillStyle = bad ? BAD : u.series[k + 1].stroke();
          ctx.fillRect(x - 2, bad ? b.top : b.top + b.height - 7, 4, 7);
        }
      });
    };
  }

  /* Log axes draw log10 of the values on a linear scale, ticks at whole decades: uPlot's own log
     scale loops forever below 1e-16, and Caffe's diffs reach 1e-30. */
  function decades(u, min, max) {
    if (min == null || !isFinite(min) || !isFinite(max)) return [-1, 1];
    var lo = Math.floor(min), hi = Math.ceil(max);
    return hi > lo ? [lo, hi] : [lo - 1, hi + 1];
  }
  function decadeSplits(u, axis, min, max) {
    var step = Math.max(1, Math.ceil((max - min) / 8)), out = [];
    for (var k = Math.ceil(min / step) * step; k <= max; k += step) out.push(k);
    return out;
  }
  function power(k) {
    if (k >= -3 && k <= 4) return String(+Math.pow(10, k).toPrecision(1));
    return "1e" + k;
  }

  function makeChart(box, spec, opts) {
    var decoded = decode(spec);
    if (!decoded.curves.length || !decoded.xs.length) {
      box.textContent = "no values";
      return null;
    }
    var drawn = decoded.curves.map(function (c) { return drawable(c, opts.log); });
    var log = opts.log && drawn.some(function (d) { return d.some(function (v) { return v !== null; }); });
    if (log !== opts.log) drawn = decoded.curves.map(function (c) { return drawable(c, false); });
    var kinds = [];
    decoded.curves.forEach(function (c) { if (kinds.indexOf(c.kind) < 0) kinds.push(c.kind); });
    var series = [{
      label: "iteration",
      value: function (u, v, s, i) {
        if (i == null) return "";
        return decoded.binned ? "from " + decoded.xs[i] : String(decoded.xs[i]);
      }
    }];
    decoded.curves.forEach(function (c) {
      var st = styleOf(c, kinds);
      series.push({
        label: c.label, stroke: st.stroke, dash: st.dash, width: 1.4, spanGaps: /^test|test#/.test(c.kind) || opts.spanGaps,
        points: { show: decoded.xs.length < 120 },
        paths: opts.stepped && uPlot.paths.stepped ? uPlot.paths.stepped({ align: 1 }) : undefined,
        value: function (u, v, s, i) {
          if (i == null || c.line[i] === 0) return "-";
          return fmt(c.y[i]) + " @ iter " + c.it[i] + ", line " + c.line[i];
        }
      });
    });
    (opts.hlines || []).forEach(function (h) {
      series.push({ label: h.label, stroke: "#888", dash: [2, 6], width: 1, points: { show: false },
                    value: function () { return fmt(h.value); } });
      drawn.push(Array.from(decoded.xs, function () { return log ? Math.log10(h.value) : h.value; }));
    });
    var width = Math.max(320, box.clientWidth || 900);
    var chart = new uPlot({
      width: width, height: opts.height || 240,
      scales: { x: { time: false }, y: log ? { range: decades } : {} },
      axes: [{ incrs: WHOLE_STEPS, values: function (u, vals) { return vals.map(tick); } },
             log ? { size: 60, splits: decadeSplits, values: function (u, vals) { return vals.map(power); } }
                 : { size: 60, values: function (u, vals) { return vals.map(tick); } }],
      series: series,
      cursor: { drag: { x: true, y: false } },
      legend: { live: true },
      hooks: { draw: [marks(decoded, log)] }
    }, [Array.from(decoded.xs)].concat(drawn), box);
    charts.push({ chart: chart, box: box, curves: decoded.curves });
    return chart;
  }

  /* ---- heatmaps ---------------------------------------------------------------------- */
  var VIRIDIS = [[68, 1, 84], [65, 68, 135], [42, 120, 142], [34, 168, 132], [122, 209, 81], [253, 231, 37]];
  function viridis(t) {
    var x = Math.min(1, Math.max(0, t)) * (VIRIDIS.length - 1), i = Math.min(VIRIDIS.length - 2, Math.floor(x)), f = x - i;
    var a = VIRIDIS[i], b = VIRIDIS[i + 1];
    return "rgb(" + [0, 1, 2].map(function (k) { return Math.round(a[k] + f * (b[k] - a[k])); }).join(",") + ")";
  }

  var tip = document.createElement("div");
  tip.className = "tip";
  document.body.appendChild(tip);

  function drawHeatmap(canvas, hm) {
    var values = f32(hm.values), iters = f64(hm.iteration), segs = f64(hm.segment);
    var rows = hm.rows, cols = hm.cols, cell = rows > 60 ? 8 : 16, axis = 22;
    var ctx = canvas.getContext("2d");
    ctx.font = "11px sans-serif";
    var labelW = 20;
    hm.layers.forEach(function (name) { labelW = Math.max(labelW, ctx.measureText(name).width + 10); });
    labelW = Math.min(labelW, 240);
    var cssW = Math.max(400, canvas.clientWidth || 1000), cssH = rows * cell + axis, dpr = window.devicePixelRatio || 1;
    canvas.width = cssW * dpr;
    canvas.height = cssH * dpr;
    canvas.style.height = cssH + "px";
    ctx.scale(dpr, dpr);
    var lo = Infinity, hi = -Infinity;
    for (var i = 0; i < values.length; i++) {
      var v = values[i];
      if (isFinite(v) && v > 0) { var l = Math.log10(v); if (l < lo) lo = l; if (l > hi) hi = l; }
    }
    var empty = lo === Infinity;  // every value 0, nan/inf or missing: nothing for the colour scale
    if (empty) { lo = 0; hi = 1; } else if (hi === lo) { hi = lo + 1; }
    var cw = (cssW - labelW) / cols;
    for (var r = 0; r < rows; r++) {
      for (var c = 0; c < cols; c++) {
        var w = values[r * cols + c];
        if (w !== w) continue;  // no value: background
        ctx.fillStyle = w === 0 ? "#000000" : (!isFinite(w) ? "#ff00ff" : viridis((Math.log10(w) - lo) / (hi - lo)));
        ctx.fillRect(labelW + c * cw, r * cell, Math.ceil(cw), cell);
      }
    }
    ctx.fillStyle = "#222";
    ctx.textBaseline = "middle";
    hm.layers.forEach(function (name, r) {
      if (cell >= 8) ctx.fillText(name.length > 36 ? name.slice(0, 35) + "…" : name, 2, r * cell + cell / 2, labelW - 6);
    });
    ctx.textBaseline = "top";
    var nt = Math.min(8, cols);
    for (var t = 0; t < nt; t++) {
      var col = Math.round(t * (cols - 1) / Math.max(1, nt - 1));
      ctx.textAlign = t === 0 ? "left" : (t === nt - 1 ? "right" : "center");  // the ends stay inside
      ctx.fillText(String(iters[col]), labelW + (col + (t === nt - 1 ? 1 : 0.5 * (t > 0))) * cw, rows * cell + 4);
    }
    ctx.textAlign = "left";
    for (var s = 1; s < cols; s++) {
      if (segs[s] !== segs[s - 1]) { ctx.fillStyle = "#fff"; ctx.fillRect(labelW + s * cw - 1, 0, 2, rows * cell); }
    }
    canvas.dataset.layout = JSON.stringify({ labelW: labelW, cell: cell, cw: cw, rows: rows, cols: cols });
    canvas.addEventListener("mousemove", function (ev) {
      var box = canvas.getBoundingClientRect();
      var c = Math.floor((ev.clientX - box.left - labelW) / cw), r = Math.floor((ev.clientY - box.top) / cell);
      if (c < 0 || c >= cols || r < 0 || r >= rows) { tip.style.display = "none"; return; }
      var v = values[r * cols + c];
      tip.textContent = hm.layers[r] + "\niteration " + iters[c] + (hm.bin_width > 1 ? " (bin of " + hm.bin_width + ")" : "")
        + (segs[c] > 0 ? ", segment " + segs[c] : "") + "\n" + (v !== v ? "no value" : (!isFinite(v) ? "nan/inf" : fmt(v)));
      tip.style.left = (ev.clientX + 12) + "px";
      tip.style.top = (ev.clientY + 12) + "px";
      tip.style.display = "block";
    });
    canvas.addEventListener("mouseleave", function () { tip.style.display = "none"; });
    return { lo: lo, hi: hi, empty: empty };
  }

  function colorbar(box, range) {
    var keys = "black: exactly 0   magenta: nan/inf   white: no value";
    if (range.empty) { box.appendChild(document.createTextNode("no value above 0 to colour   " + keys)); return; }
    var bar = document.createElement("canvas");
    bar.width = 200; bar.height = 10;
    var ctx = bar.getContext("2d");
    for (var i = 0; i < 200; i++) { ctx.fillStyle = viridis(i / 199); ctx.fillRect(i, 0, 1, 10); }
    box.appendChild(document.createTextNode("log10 value " + range.lo.toFixed(1)));
    box.appendChild(bar);
    box.appendChild(document.createTextNode(range.hi.toFixed(1) + "   " + keys));
  }

  /* ---- layer panels: drawn when they come into view, filtered by name --------------------- */
  var layerBoxes = document.querySelectorAll(".chart[data-layer]");
  function drawLayer(box) {
    if (box.dataset.drawn) return;
    box.dataset.drawn = "1";
    makeChart(box, data.layers[+box.dataset.layer].chart, { log: true });
  }
  var seen = "IntersectionObserver" in window ? new IntersectionObserver(function (entries) {
    entries.forEach(function (e) { if (e.isIntersecting) { drawLayer(e.target); seen.unobserve(e.target); } });
  }, { rootMargin: "300px" }) : null;
  layerBoxes.forEach(function (box) { if (seen) seen.observe(box); else drawLayer(box); });

  var filter = document.getElementById("layer-filter");
  if (filter) {
    filter.addEventListener("input", function () {
      var q = filter.value.trim().toLowerCase(), shown = 0, panels = document.querySelectorAll(".panel");
      panels.forEach(function (p) {
        var hit = !q || p.dataset.name.toLowerCase().indexOf(q) >= 0;
        p.classList.toggle("hidden", !hit);
        if (hit) shown++;
      });
      document.getElementById("layer-count").textContent = shown + " of " + panels.length + " layers";
    });
  }

  /* A click on a finding or cause shows its layer's panel. */
  document.querySelectorAll("li[data-panel]").forEach(function (li) {
    li.addEventListener("click", function (ev) {
      if (ev.target.closest("details")) return;
      var panel = document.getElementById("layer-" + li.dataset.panel);
      if (!panel) return;
      if (panel.classList.contains("hidden") && filter) { filter.value = ""; filter.dispatchEvent(new Event("input")); }
      document.querySelectorAll(".panel.highlight").forEach(function (p) { p.classList.remove("highlight"); });
      panel.classList.add("highlight");
      var box = panel.querySelector(".chart[data-layer]");
      if (box) drawLayer(box);
      panel.scrollIntoView({ block: "center" });
    });
  });

  /* ---- the rest: scalars and heatmaps at once ------------------------------------------ */
  document.querySelectorAll(".chart[data-scalars]").forEach(function (box) {
    var spec = data.scalars[+box.dataset.scalars];
    makeChart(box, spec.chart, { log: spec.log, hlines: spec.chance, spanGaps: true, height: 220,
                                 stepped: spec.title === "learning rate" });
  });
  document.querySelectorAll("canvas.heatmap").forEach(function (canvas) {
    var k = +canvas.dataset.heatmap;
    var range = drawHeatmap(canvas, data.heatmaps[k]);
    colorbar(document.querySelector(".colorbar[data-heatmap='" + k + "']"), range);
  });

  window.addEventListener("resize", function () {
    charts.forEach(function (c) { c.chart.setSize({ width: Math.max(320, c.box.clientWidth), height: c.chart.height }); });
  });
  window.caffelogCharts = charts;  // for tests and the curious: each chart's uPlot and its curves
  document.body.dataset.ready = "1";
})();
