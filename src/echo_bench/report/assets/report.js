// ECHO-bench report: draws every chart as SVG from the JSON data of this page.
// No libraries and no network.  After rendering it records its status on <body>:
// data-charts-expected / -rendered / -empty / -failed, data-gallery-items,
// data-gallery-images-expected / data-gallery-images (decoded), data-render-done.
(function () {
  "use strict";
  var SVGNS = "http://www.w3.org/2000/svg";
  var PALETTE = ["#4C72B0", "#DD8452", "#55A868", "#C44E52", "#8172B3", "#937860", "#DA8BC3", "#8C8C8C", "#CCB974", "#64B5CD"];
  var DATA = JSON.parse(document.getElementById("report-data").textContent);
  var tooltip = document.getElementById("tooltip");

  // --- small DOM helpers -------------------------------------------------------------------------------------------
  function el(tag, attrs, kids) {
    var e = document.createElement(tag);
    setAttrs(e, attrs);
    append(e, kids);
    return e;
  }
  function sv(tag, attrs, kids) {
    var e = document.createElementNS(SVGNS, tag);
    setAttrs(e, attrs);
    append(e, kids);
    return e;
  }
  function setAttrs(e, attrs) {
    if (!attrs) return;
    Object.keys(attrs).forEach(function (k) {
      var v = attrs[k];
      if (v === null || v === undefined) return;
      if (k === "text") e.textContent = String(v);
      else if (k.slice(0, 2) === "on") e.addEventListener(k.slice(2), v);
      else e.setAttribute(k, String(v));
    });
  }
  function append(e, kids) {
    if (kids === null || kids === undefined) return;
    if (!Array.isArray(kids)) kids = [kids];
    kids.forEach(function (k) {
      if (k === null || k === undefined) return;
      e.appendChild(typeof k === "string" ? document.createTextNode(k) : k);
    });
  }
  function fmt(v, d) {
    return v === null || v === undefined || isNaN(v) ? "\u2013" : Number(v).toFixed(d === undefined ? 2 : d);
  }
  function title(text) { return sv("title", { text: text }); }
  function isNum(v) { return typeof v === "number" && isFinite(v); }
  function showTip(evt, text) {
    tooltip.textContent = text;
    tooltip.hidden = false;
    var x = Math.min(evt.clientX + 14, window.innerWidth - 440);
    tooltip.style.left = x + "px";
    tooltip.style.top = (evt.clientY + 14) + "px";
  }
  function hideTip() { tooltip.hidden = true; }
  function head(container, h, sub) {
    container.appendChild(el("h3", { text: h }));
    if (sub) container.appendChild(el("p", { "class": "sub", text: sub }));
  }
  function emptyMsg(container, msg) {
    container.appendChild(el("div", { "class": "empty", text: msg }));
    return "empty";
  }
  function legend(items) {
    return el("div", { "class": "legend" }, items.map(function (it) {
      return el("span", { style: "--c:" + it.color, text: it.label });
    }));
  }

  // --- horizontal bars with intervals (win rates, metrics, shares) --------------------------------------------------
  // groups: [{label, bars: [{series, value, lo, hi}]}]; series: [{name, color}]
  function hbars(groups, series, opt) {
    opt = opt || {};
    var labelW = Math.min(220, 12 + 7 * Math.max.apply(null, groups.map(function (g) { return String(g.label).length; }).concat([4])));
    var W = opt.width || 560, plotW = W - labelW - 60, barH = opt.barH || 14, gap = 8;
    var per = series.length * barH + gap;
    var H = 28 + groups.length * per + 10;
    var vals = [];
    groups.forEach(function (g) { g.bars.forEach(function (b) { [b.value, b.lo, b.hi].forEach(function (v) { if (isNum(v)) vals.push(v); }); }); });
    var xmin = opt.xmin !== undefined ? opt.xmin : Math.min(0, Math.min.apply(null, vals.concat([0])));
    var xmax = opt.xmax !== undefined ? opt.xmax : Math.max.apply(null, vals.concat([1e-9])) * 1.08;
    function X(v) { return labelW + (v - xmin) / (xmax - xmin || 1) * plotW; }
    var svg = sv("svg", { viewBox: "0 0 " + W + " " + H, width: W, height: H, role: "img" });
    // axis ticks
    for (var i = 0; i <= 4; i++) {
      var tv = xmin + (xmax - xmin) * i / 4, tx = X(tv);
      svg.appendChild(sv("line", { x1: tx, x2: tx, y1: 18, y2: H - 8, stroke: "#eee" }));
      svg.appendChild(sv("text", { x: tx, y: 12, "font-size": 10, "text-anchor": "middle", fill: "#777", text: fmt(tv, opt.tickDigits === undefined ? 2 : opt.tickDigits) }));
    }
    if (isNum(opt.refline)) {
      svg.appendChild(sv("line", { x1: X(opt.refline), x2: X(opt.refline), y1: 18, y2: H - 8, stroke: "#888", "stroke-dasharray": "3,3" }));
    }
    groups.forEach(function (g, gi) {
      var y0 = 24 + gi * per;
      svg.appendChild(sv("text", { x: labelW - 6, y: y0 + per / 2 - gap / 2 + 4, "font-size": 11, "text-anchor": "end", text: g.label }));
      g.bars.forEach(function (b) {
        var si = series.findIndex(function (s) { return s.name === b.series; });
        var y = y0 + si * barH;
        if (!isNum(b.value)) {
          svg.appendChild(sv("text", { x: X(xmin) + 4, y: y + barH - 3, "font-size": 10, fill: "#999", text: "n/a" }));
          return;
        }
        var x0 = X(Math.max(xmin, Math.min(0, b.value))), x1 = X(Math.max(0, b.value));
        if (xmin > 0) { x0 = X(xmin); x1 = X(b.value); }
        var tip = g.label + (series.length > 1 ? " (" + b.series + ")" : "") + ": " + fmt(b.value, opt.digits) +
          (isNum(b.lo) ? " [" + fmt(b.lo, opt.digits) + ", " + fmt(b.hi, opt.digits) + "]" : "") + (b.note ? " " + b.note : "");
        svg.appendChild(sv("rect", { x: Math.min(x0, x1), y: y + 1, width: Math.max(1, Math.abs(x1 - x0)), height: barH - 2, fill: series[si].color }, title(tip)));
        if (isNum(b.lo) && isNum(b.hi)) {
          var cy = y + barH / 2;
          svg.appendChild(sv("line", { x1: X(b.lo), x2: X(b.hi), y1: cy, y2: cy, stroke: "#222", "stroke-width": 1.2 }));
          svg.appendChild(sv("line", { x1: X(b.lo), x2: X(b.lo), y1: cy - 4, y2: cy + 4, stroke: "#222" }));
          svg.appendChild(sv("line", { x1: X(b.hi), x2: X(b.hi), y1: cy - 4, y2: cy + 4, stroke: "#222" }));
        }
        var tx = X(isNum(b.hi) ? Math.max(b.hi, b.value) : b.value) + 4;
        svg.appendChild(sv("text", { x: Math.min(tx, W - 30), y: y + barH - 3, "font-size": 10, fill: "#333", text: fmt(b.value, opt.digits) }));
      });
    });
    return svg;
  }

  // --- charts ---------------------------------------------------------------------------------------------------------
  function winrateChart(split) {
    return function (c) {
      var d = (DATA.winrates || {})[split];
      head(c, "Win rate: " + split.replace(/_/g, "-"), d ? (d.prompts + " prompts; judges: " + (d.judges.join(", ") || "none") +
        "; " + Math.round(100 * (d.level || 0.95)) + "% bootstrap interval over prompts") : "");
      if (!d || !d.models.length) return emptyMsg(c, "no win rates for this split");
      if (d.offline_only) c.appendChild(el("div", { "class": "note", text: "Offline heuristic judge: measurable signals only, no VLM. A pipeline check, not the paper's numbers." }));
      var groups = d.models.map(function (m) {
        return { label: m.model, bars: [{ series: "win rate", value: m.win_rate, lo: m.lo, hi: m.hi, note: "(" + m.battles + " battles)" }] };
      });
      c.appendChild(hbars(groups, [{ name: "win rate", color: PALETTE[0] }], { xmin: 0, xmax: 1, refline: 0.5, digits: 2 }));
      return "ok";
    };
  }

  function metricChart(metric) {
    return function (c) {
      var d = (DATA.metrics || {})[metric];
      var label = d ? d.label : metric;
      var better = d && d.higher_is_better !== null ? (d.higher_is_better ? "higher is better" : "lower is better") : "";
      head(c, label, better + (d && d.rows.length ? "; bars: value, whiskers: 95% bootstrap over samples" : ""));
      var rows = d ? d.rows.filter(function (r) { return isNum(r.value); }) : [];
      if (!rows.length) return emptyMsg(c, "no applicable samples");
      var splits = [], models = [];
      rows.forEach(function (r) { if (splits.indexOf(r.split) < 0) splits.push(r.split); if (models.indexOf(r.model) < 0) models.push(r.model); });
      models.sort();
      var series = splits.map(function (s, i) { return { name: s, color: PALETTE[i] }; });
      var groups = models.map(function (m) {
        return { label: m, bars: rows.filter(function (r) { return r.model === m; }).map(function (r) {
          return { series: r.split, value: r.value, lo: r.lo, hi: r.hi, note: "(n=" + r.n_ok + ")" };
        }) };
      });
      c.appendChild(hbars(groups, series, { width: 420, digits: 3, barH: 12 }));
      if (splits.length > 1) c.appendChild(legend(series.map(function (s) { return { label: s.name, color: s.color }; })));
      return "ok";
    };
  }

  function volumeChart(c) {
    var v = DATA.volume || {};
    var days = v.days || [];
    var m = v.method || {};
    head(c, "Posts per day (" + (v.series || "") + ")", days.length ? ("spikes: robust z \u2265 " + m.threshold + " against the median/MAD of a centred " +
      m.window_days + "-day window (min " + m.min_count + " posts), marked \u25bc; events dashed") : "");
    if (!days.length) return emptyMsg(c, "no posts");
    var W = 1100, H = 300, L = 46, R = 16, T = 20, B = 40;
    var n = days.length, bw = (W - L - R) / n;
    var ymax = 1;
    days.forEach(function (d) { ymax = Math.max(ymax, d.value || 0, d.queried || 0); });
    ymax *= 1.1;
    function X(i) { return L + i * bw; }
    function Y(v) { return T + (1 - v / ymax) * (H - T - B); }
    var svg = sv("svg", { viewBox: "0 0 " + W + " " + H, width: W, height: H, role: "img" });
    for (var k = 0; k <= 4; k++) {
      var yv = ymax * k / 4;
      svg.appendChild(sv("line", { x1: L, x2: W - R, y1: Y(yv), y2: Y(yv), stroke: "#eee" }));
      svg.appendChild(sv("text", { x: L - 4, y: Y(yv) + 4, "font-size": 10, "text-anchor": "end", fill: "#777", text: Math.round(yv) }));
    }
    days.forEach(function (d, i) {
      var val = d.value || 0;
      svg.appendChild(sv("rect", { x: X(i) + 0.5, y: Y(val), width: Math.max(1, bw - 1), height: Y(0) - Y(val),
        fill: d.spike ? "#C44E52" : PALETTE[0], opacity: d.spike ? 1 : 0.85 },
        title(d.date + ": " + val + " posts" + (isNum(d.z) ? " (z " + fmt(d.z, 1) + ")" : "") + (isNum(d.queried) ? "; keyword query " + d.queried : ""))));
      if (n <= 60 ? i % 7 === 0 : i % Math.ceil(n / 10) === 0) {
        svg.appendChild(sv("text", { x: X(i) + bw / 2, y: H - B + 14, "font-size": 10, "text-anchor": "middle", fill: "#555", text: d.date.slice(5) }));
      }
    });
    if (days.some(function (d) { return isNum(d.queried) && d.queried > 0; }) && v.series !== "queried") {
      var pts = days.map(function (d, i) { return (X(i) + bw / 2) + "," + Y(d.queried || 0); }).join(" ");
      svg.appendChild(sv("polyline", { points: pts, fill: "none", stroke: "#8C8C8C", "stroke-width": 1.2 }, title("keyword query matches per day")));
    }
    var index = {};
    days.forEach(function (d, i) { index[d.date] = i; });
    (v.spikes || []).forEach(function (s) {
      var i = index[s.peak];
      if (i === undefined) return;
      var x = X(i) + bw / 2, y = Y(s.peak_count) - 4;
      svg.appendChild(sv("path", { d: "M" + (x - 5) + "," + (y - 8) + " L" + (x + 5) + "," + (y - 8) + " L" + x + "," + y + " Z", fill: "#C44E52" },
        title("spike " + s.start + " to " + s.end + ", peak " + s.peak + ": " + s.peak_count + " posts, z " + fmt(s.peak_z, 1) +
          (s.events && s.events.length ? " (" + s.events.join(", ") + ")" : ""))));
    });
    (v.events || []).forEach(function (e, j) {
      var i = index[e.date];
      if (i === undefined) return;
      var x = X(i) + bw / 2;
      svg.appendChild(sv("line", { x1: x, x2: x, y1: T, y2: H - B, stroke: "#222", "stroke-dasharray": "4,3" }));
      svg.appendChild(sv("text", { x: x + 4, y: T + 10 + 13 * (j % 3), "font-size": 11, fill: "#222", text: e.name + (e.spike_peak ? "" : " (no spike)") }));
    });
    svg.appendChild(sv("text", { x: 12, y: (T + H - B) / 2, "font-size": 10, fill: "#555", transform: "rotate(-90 12 " + (T + H - B) / 2 + ")", "text-anchor": "middle", text: "posts per day (UTC)" }));
    c.appendChild(svg);
    c.appendChild(legend([{ label: v.series + " posts", color: PALETTE[0] }, { label: "spike days", color: "#C44E52" }, { label: "keyword query", color: "#8C8C8C" }]));
    return "ok";
  }

  function showExamples(word) {
    var box = document.getElementById("keyword-examples");
    box.textContent = "";
    var k = (DATA.keywords || []).find(function (x) { return x.keyword === word; });
    box.appendChild(el("h4", { text: "\u201c" + word + "\u201d" + (k ? " \u2014 " + k.count + " feedback posts (" + String(k.category).replace(/_/g, " ") + ")" : "") }));
    if (!k || !k.examples.length) { box.appendChild(el("p", { "class": "hint", text: "No examples stored for this keyword." })); return; }
    k.examples.forEach(function (e) {
      var links = [];
      if (e.in_gallery) links.push(el("a", { href: "#sample-" + e.split + "-" + e.sample_id, text: "sample in the gallery" }));
      else links.push(document.createTextNode("sample " + e.split + "/" + e.sample_id));
      if (e.url) { links.push(" \u00b7 "); links.push(el("a", { href: e.url, target: "_blank", rel: "noopener", text: "post " + e.post_id })); }
      box.appendChild(el("div", { "class": "ex" }, [el("div", { text: e.text }), el("div", { "class": "meta" }, ["prompt: " + e.prompt + " \u2014 "].concat(links))]));
    });
  }

  function wordcloudChart(c) {
    var w = DATA.wordcloud || {};
    head(c, "Failure keywords", "size: number of feedback posts that use the keyword; colour: category" + (w.producer && w.producer.length ? "; annotator: " + w.producer.join(", ") : ""));
    if (!w.words || !w.words.length) return emptyMsg(c, "no failure keywords in the feedback");
    var colors = w.colors || {};
    var svg = sv("svg", { viewBox: "0 0 " + w.width + " " + w.height, width: w.width, height: w.height, role: "img" });
    w.words.forEach(function (x) {
      var t = sv("text", { x: x.x, y: x.y, "font-size": x.size, "text-anchor": "middle", "dominant-baseline": "central",
        textLength: x.w, lengthAdjust: "spacingAndGlyphs", fill: colors[x.group || "general"] || "#333", style: "cursor:pointer",
        "data-word": x.text, text: x.text, onclick: function () { showExamples(x.text); } });
      t.appendChild(title(x.text + ": " + x.weight + " posts (" + String(x.group || "general").replace(/_/g, " ") + ")"));
      svg.appendChild(t);
    });
    c.appendChild(svg);
    var cats = [];
    w.words.forEach(function (x) { var g = x.group || "general"; if (cats.indexOf(g) < 0) cats.push(g); });
    c.appendChild(legend(cats.map(function (g) { return { label: g.replace(/_/g, " "), color: colors[g] || "#333" }; })));
    if (DATA.keywords && DATA.keywords.length) showExamples(DATA.keywords[0].keyword);
    return "ok";
  }

  function embeddingChart(c) {
    var e = DATA.embedding || {};
    head(c, "Prompt embedding map (t-SNE)", e.label ? (e.label + "; " + (e.tsne.backend || "") + " t-SNE, perplexity " + fmt(e.tsne.perplexity, 0) + ", seed " + e.tsne.seed + ". Hover a point to read its prompt.") : "");
    var pts = e.points || [];
    if (!pts.length) return emptyMsg(c, "no prompts to map");
    var W = 560, H = 500, P = 12;
    var xs = pts.map(function (p) { return p[0]; }), ys = pts.map(function (p) { return p[1]; });
    var x0 = Math.min.apply(null, xs), x1 = Math.max.apply(null, xs), y0 = Math.min.apply(null, ys), y1 = Math.max.apply(null, ys);
    function X(v) { return P + (v - x0) / ((x1 - x0) || 1) * (W - 2 * P); }
    function Y(v) { return H - P - (v - y0) / ((y1 - y0) || 1) * (H - 2 * P); }
    var svg = sv("svg", { viewBox: "0 0 " + W + " " + H, width: W, height: H, role: "img" });
    svg.appendChild(sv("rect", { x: 0, y: 0, width: W, height: H, fill: "#fcfcfd", stroke: "#eee" }));
    pts.forEach(function (p, i) {
      var g = e.groups[p[2]];
      var text = g + " \u2014 " + (e.categories && e.categories[i] ? e.categories[i].replace(/_/g, " ") + ": " : "") + e.prompts[i];
      svg.appendChild(sv("circle", { cx: X(p[0]).toFixed(1), cy: Y(p[1]).toFixed(1), r: 2.6, fill: PALETTE[p[2] % PALETTE.length], "fill-opacity": 0.7,
        "data-i": i, onmousemove: function (evt) { showTip(evt, text); }, onmouseleave: hideTip }, title(text)));
    });
    c.appendChild(svg);
    var counts = e.groups.map(function () { return 0; });
    pts.forEach(function (p) { counts[p[2]] += 1; });
    c.appendChild(legend(e.groups.map(function (g, i) { return { label: g + " (" + counts[i] + ")", color: PALETTE[i % PALETTE.length] }; })));
    return "ok";
  }

  function compareChart(c) {
    var d = DATA.compare || {};
    var stats = d.stats || [];
    head(c, "First-bigram concentration", "top-1 share: prompts starting with the most frequent first bigram; top-" + d.top_k + " share: with one of the " + d.top_k +
      " most frequent first bigrams (higher = more templated); entropy: normalized entropy of the first bigram (higher = more diverse)");
    if (!stats.length) return emptyMsg(c, "no prompt sets");
    var series = [{ name: "top-1 share", color: PALETTE[1] }, { name: "top-k share", color: PALETTE[3] }, { name: "entropy", color: PALETTE[2] }];
    var groups = stats.map(function (s) {
      return { label: s.dataset + " (" + s.n_prompts + ")", bars: [{ series: "top-1 share", value: s.first_bigram_top1_share }, { series: "top-k share", value: s.first_bigram_topk_share }, { series: "entropy", value: s.first_bigram_entropy }] };
    });
    c.appendChild(hbars(groups, series, { xmin: 0, xmax: 1, digits: 2, barH: 11 }));
    c.appendChild(legend(series.map(function (s) { return { label: s.name, color: s.color }; })));
    var skipped = (d.sets || []).filter(function (s) { return s.status !== "ok"; });
    if (skipped.length) c.appendChild(el("p", { "class": "hint", text: "Left out: " + skipped.map(function (s) { return s.name + " (" + s.status + ": " + (s.reason || "") + ")"; }).join("; ") }));
    // the table of every statistic
    var cols = [["dataset", "Dataset"], ["n_prompts", "Prompts"], ["words_mean", "Words (mean)"], ["words_median", "Median"], ["first_bigrams", "First bigrams"],
      ["first_bigram_top1_share", "Top-1 share"], ["first_bigram_topk_share", "Top-" + d.top_k + " share"], ["first_bigram_entropy", "Entropy"], ["distinct_1", "Distinct-1"], ["distinct_2", "Distinct-2"]];
    var tbl = el("table", { "class": "stats" }, [el("tr", null, cols.map(function (cc) { return el("th", { text: cc[1] }); }))]);
    stats.forEach(function (s) {
      tbl.appendChild(el("tr", null, cols.map(function (cc) {
        var v = s[cc[0]];
        return el("td", { text: typeof v === "number" ? (Number.isInteger(v) ? String(v) : fmt(v, 3)) : String(v) });
      })));
    });
    var holder = document.getElementById("compare-table");
    holder.textContent = "";
    holder.appendChild(tbl);
    return "ok";
  }

  function taxonomyChart(c) {
    var rows = (DATA.taxonomy || {}).rows || [];
    head(c, "Task taxonomy", "share of prompts carrying each label (keyword rules; several labels per prompt)");
    var splits = [];
    rows.forEach(function (r) { if (r.split !== "all" && r.n_prompts > 0 && splits.indexOf(r.split) < 0) splits.push(r.split); });
    if (!splits.length) return emptyMsg(c, "no prompts");
    var cats = [];
    rows.forEach(function (r) { if (cats.indexOf(r.category) < 0) cats.push(r.category); });
    var series = splits.map(function (s, i) { return { name: s, color: PALETTE[i] }; });
    var groups = cats.map(function (cat) {
      return { label: cat.replace(/_/g, " "), bars: rows.filter(function (r) { return r.category === cat && splits.indexOf(r.split) >= 0; }).map(function (r) {
        return { series: r.split, value: r.share, note: "(" + r.count + " of " + r.n_prompts + ")" };
      }) };
    });
    c.appendChild(hbars(groups, series, { xmin: 0, xmax: 1, digits: 2, barH: 8 }));
    c.appendChild(legend(series.map(function (s) { return { label: s.name, color: s.color }; })));
    return "ok";
  }

  // --- gallery ------------------------------------------------------------------------------------------------------
  function figure(imgId, caption, cls, missing) {
    var f = el("figure", { "class": cls || "" });
    var uri = imgId ? (DATA.images || {})[imgId] : null;
    if (uri) f.appendChild(el("img", { src: uri, alt: caption, loading: "eager", "data-img": imgId }));
    else f.appendChild(el("div", { "class": "ph", text: missing || "no image" }));
    f.appendChild(el("figcaption", { text: caption }));
    return f;
  }

  function controlsChart(c) {
    var d = DATA.controls || {};
    var rows = d.rows || [];
    head(c, "Known answers of the control models", "per metric and for the judge panel: expected answer, measured value with 95% interval, pass/fail (results/controls/)");
    if (d.judge_reads) c.appendChild(el("p", { "class": "hint", text: d.judge_reads }));
    if (!rows.length) return emptyMsg(c, "no controls report");
    var passed = rows.filter(function (r) { return r.status === "pass"; }).length;
    var failed = rows.filter(function (r) { return r.status === "fail"; }).length;
    c.appendChild(el("p", { text: passed + " passed, " + failed + " failed, " + (rows.length - passed - failed) + " skipped of " + rows.length + " checks" }));
    var cols = ["subject", "split", "check", "control", "expected", "value", "interval", "status"];
    var thead = el("tr", {}, cols.map(function (k) { return el("th", { text: k }); }));
    var body = rows.map(function (r) {
      var ci = isNum(r.ci_low) && isNum(r.ci_high) ? "[" + fmt(r.ci_low, 4) + ", " + fmt(r.ci_high, 4) + "]" : "";
      var cells = [r.subject, r.split, r.check, r.control, r.expected, isNum(r.value) ? fmt(r.value, 4) : "", ci, r.status + (r.reason && r.status !== "pass" ? " (" + r.reason + ")" : "")];
      return el("tr", { "class": "control-" + r.status }, cells.map(function (v) { return el("td", { text: String(v) }); }));
    });
    c.appendChild(el("table", { "class": "controls" }, [el("thead", {}, [thead]), el("tbody", {}, body)]));
    return "ok";
  }

  function renderGallery() {
    var g = DATA.gallery || { items: [], models: [] };
    var box = document.getElementById("gallery");
    if (!g.items.length) { box.appendChild(el("p", { "class": "empty", text: "no benchmark samples" })); return; }
    g.items.forEach(function (it) {
      var row = el("div", { "class": "row" });
      it.inputs.forEach(function (id, i) { row.appendChild(figure(id, "input " + (i + 1), "input")); });
      if (it.reference.length) row.appendChild(figure(it.reference[0], "community output (reference)", "reference"));
      g.models.forEach(function (m) {
        var o = it.outputs[m] || { status: "missing" };
        row.appendChild(figure(o.img, m, "output", o.status + (o.reason ? ": " + o.reason : "")));
      });
      var item = el("div", { "class": "gitem", id: "sample-" + it.split + "-" + it.sample_id }, [
        el("div", { "class": "meta", text: it.split + " \u00b7 " + it.task_type + " \u00b7 sample " + it.sample_id }),
        el("div", { "class": "prompt", text: it.prompt }),
        row,
      ]);
      if (it.feedback && it.feedback.length) item.appendChild(el("div", { "class": "fb", text: "feedback: " + it.feedback.map(function (t) { return "\u201c" + t + "\u201d"; }).join("  ") }));
      box.appendChild(item);
    });
  }

  // --- wiring -------------------------------------------------------------------------------------------------------
  function notes() {
    var box = document.getElementById("notes");
    var offline = Object.keys(DATA.winrates || {}).some(function (s) { return DATA.winrates[s].offline_only; });
    if (offline) box.appendChild(el("div", { "class": "note", text: "Judged by the offline heuristic judge: these numbers check the pipeline; they are not the paper's VLM-judge results." }));
    Object.keys(DATA.notes || {}).sort().forEach(function (k) { box.appendChild(el("div", { "class": "note", text: k + ": " + DATA.notes[k] })); });
  }

  function render() {
    var charts = [];
    var wr = document.getElementById("winrate-charts");
    (DATA.splits || []).forEach(function (s) {
      var c = el("div", { "class": "chart", "data-chart": "winrate-" + s });
      wr.appendChild(c);
      charts.push([c, winrateChart(s)]);
    });
    var mc = document.getElementById("metric-charts");
    (DATA.metric_order || Object.keys(DATA.metrics || {})).forEach(function (m) {
      var c = el("div", { "class": "chart", "data-chart": "metric-" + m });
      mc.appendChild(c);
      charts.push([c, metricChart(m)]);
    });
    var fixed = { controls: controlsChart, volume: volumeChart, wordcloud: wordcloudChart, embedding: embeddingChart, compare: compareChart, taxonomy: taxonomyChart };
    Object.keys(fixed).forEach(function (k) { charts.push([document.querySelector('[data-chart="' + k + '"]'), fixed[k]]); });
    var ok = 0, empty = 0, failed = 0;
    charts.forEach(function (pair) {
      var c = pair[0];
      try {
        var status = pair[1](c);
        c.setAttribute("data-status", status);
        if (status === "empty") empty += 1; else ok += 1;
      } catch (err) {
        failed += 1;
        c.setAttribute("data-status", "error");
        c.appendChild(el("div", { "class": "error", text: "chart failed: " + err }));
      }
    });
    var body = document.body;
    body.setAttribute("data-charts-expected", charts.length);
    body.setAttribute("data-charts-rendered", ok + empty);
    body.setAttribute("data-charts-drawn", ok);
    body.setAttribute("data-charts-empty", empty);
    body.setAttribute("data-charts-failed", failed);
    try { notes(); renderGallery(); } catch (err) { body.setAttribute("data-gallery-error", String(err)); }
    var imgs = Array.prototype.slice.call(document.querySelectorAll("#gallery img"));
    body.setAttribute("data-gallery-items", document.querySelectorAll("#gallery .gitem").length);
    body.setAttribute("data-gallery-images-expected", imgs.length);
    Promise.all(imgs.map(function (img) {
      return (img.decode ? img.decode() : Promise.resolve()).then(function () { return img.naturalWidth > 0 ? 1 : 0; }, function () { return 0; });
    })).then(function (loaded) {
      body.setAttribute("data-gallery-images", loaded.reduce(function (a, b) { return a + b; }, 0));
      body.setAttribute("data-render-done", "1");
    });
  }

  render();
})();
