// packflow serve status page: seeds its charts from "/stats/history", then polls "/" (as JSON) and
// "/stats" every second, keeps the last minutes of samples in memory and draws small SVG charts
// itself. No library, no request off this origin.
"use strict";
(() => {
  const POLL_MS = 1000;
  const WINDOW_MS = 5 * 60 * 1000;
  const MIN_SPAN_MS = 60 * 1000;
  const NS = "http://www.w3.org/2000/svg";
  const W = 320, H = 96, PAD = 4;
  const samples = new Map();  // model -> [{t, worker, snap}]
  const views = new Map();    // model -> view (DOM nodes and charts)

  // ---- DOM helpers --------------------------------------------------------------------------
  function el(tag, attrs = {}, ...children) {
    const node = document.createElement(tag);
    for (const [key, value] of Object.entries(attrs)) node.setAttribute(key, value);
    for (const child of children) node.append(child);
    return node;
  }
  function svgEl(tag, attrs = {}) {
    const node = document.createElementNS(NS, tag);
    for (const [key, value] of Object.entries(attrs)) node.setAttribute(key, String(value));
    return node;
  }
  function setText(node, text) {
    if (node.textContent !== text) node.textContent = text;
  }
  function fmt(value, digits = 3) {
    if (value === null || value === undefined || Number.isNaN(value)) return "–";
    if (Math.abs(value) >= 1000) return Math.round(value).toLocaleString("en-US");
    return Number(value.toPrecision(digits)).toString();
  }
  function fmtUptime(seconds) {
    const s = Math.floor(seconds), h = Math.floor(s / 3600), m = Math.floor((s % 3600) / 60);
    return `${h}h ${String(m).padStart(2, "0")}m ${String(s % 60).padStart(2, "0")}s`;
  }

  // ---- charts -------------------------------------------------------------------------------
  // A line chart over the time window: one <path> per series, its point count in data-points.
  function lineChart(title, unit, names) {
    const box = el("figure", { class: "chart", "data-chart": title });
    const svg = svgEl("svg", { viewBox: `0 0 ${W} ${H}`, role: "img", "aria-label": title });
    svg.append(svgEl("line", { x1: 0, y1: H - PAD, x2: W, y2: H - PAD, class: "axis" }));
    const top = svgEl("text", { x: 2, y: 11, class: "scale" });
    const span = svgEl("text", { x: W - 2, y: 11, class: "scale span" });
    svg.append(top, span);
    const paths = names.map((name, i) => {
      const path = svgEl("path", { class: `series s${i}`, "data-series": name, "data-points": 0, d: "" });
      svg.append(path);
      return path;
    });
    const legend = el("figcaption", {}, el("b", {}, title));
    const values = names.map((name, i) => {
      const value = el("span", { class: `value s${i}`, "data-series": name }, "–");
      legend.append(" ", el("span", { class: "key" }, `${name} `, value));
      return value;
    });
    box.append(svg, legend);
    return { box, update: (series, now, width) => drawLines(series, now, width, { top, span, paths, values, unit }) };
  }

  function drawLines(series, now, width, parts) {
    const max = niceMax(Math.max(0, ...series.flatMap((points) => points.map((p) => p[1]))));
    setText(parts.top, `${fmt(max)} ${parts.unit}`);
    setText(parts.span, width >= 120000 ? `last ${Math.round(width / 60000)} min` : `last ${Math.round(width / 1000)} s`);
    series.forEach((points, i) => {
      const d = points.map(([t, v], j) => `${j ? "L" : "M"}${xOf(t, now, width)},${yOf(v, max)}`).join("");
      parts.paths[i].setAttribute("d", d);
      parts.paths[i].setAttribute("data-points", String(points.length));
      parts.paths[i].setAttribute("data-max", String(Math.max(0, ...points.map((p) => p[1]))));
      const last = points.length ? points[points.length - 1][1] : null;
      setText(parts.values[i], last === null ? "–" : `${fmt(last)} ${parts.unit}`);
    });
  }
  function xOf(t, now, width) {
    return (W - (now - t) / width * W).toFixed(1);
  }
  function yOf(v, max) {
    return (H - PAD - (max > 0 ? v / max : 0) * (H - 2 * PAD - 10)).toFixed(1);
  }
  function niceMax(value) {
    if (value <= 0) return 1;
    const step = 10 ** Math.floor(Math.log10(value));
    for (const m of [1, 2, 2.5, 5, 10]) if (m * step >= value) return m * step;
    return 10 * step;
  }

  // A bar chart of the batch-size histogram: one <rect> per bucket up to the largest used one.
  function barChart(title) {
    const box = el("figure", { class: "chart bars", "data-chart": title });
    const svg = svgEl("svg", { viewBox: `0 0 ${W} ${H}`, role: "img", "aria-label": title });
    box.append(svg, el("figcaption", {}, el("b", {}, title), " (records per batch, lifetime)"));
    return { box, update: (buckets) => drawBars(svg, buckets) };
  }
  function drawBars(svg, buckets) {
    const entries = Object.entries(buckets || {});
    let used = entries.length;
    while (used > 1 && entries[used - 1][1] === 0) used -= 1;
    const shown = entries.slice(0, used), max = Math.max(1, ...shown.map((e) => e[1]));
    svg.replaceChildren();
    const width = W / Math.max(shown.length, 1);
    shown.forEach(([label, count], i) => {
      const height = count / max * (H - 26);
      const bar = svgEl("rect", { x: i * width + 2, y: H - 14 - height, width: width - 4, height, class: "bar",
        "data-bucket": label, "data-count": count });
      const name = svgEl("text", { x: i * width + width / 2, y: H - 3, class: "tick" });
      name.textContent = label === "+Inf" ? ">" + entries[entries.length - 2][0] : "≤" + label;
      const value = svgEl("text", { x: i * width + width / 2, y: H - 17 - height, class: "tick" });
      value.textContent = count ? String(count) : "";
      svg.append(bar, name, value);
    });
  }

  // ---- one model's section ------------------------------------------------------------------
  const NUMBERS = [["records_in", "records in"], ["records_out", "records out"], ["dead_letters", "dead letters"],
    ["batches", "batches"], ["isolation_calls", "isolation calls"], ["queue_depth", "queue depth"],
    ["in_flight", "in flight"], ["records_per_s", "records/s (lifetime)"]];

  function createView(name) {
    const section = el("section", { class: "model", "data-model": name });
    const ready = el("span", { class: "pill", "data-field": "ready" }, "…");
    const version = el("small", { "data-field": "version" });
    const reason = el("p", { class: "reason", "data-field": "reason" });
    const numbers = el("dl", { class: "numbers" });
    const stat = {};
    for (const [key, label] of NUMBERS) {
      stat[key] = el("dd", { "data-stat": key }, "–");
      numbers.append(el("div", {}, el("dt", {}, label), stat[key]));
    }
    const charts = el("div", { class: "charts" });
    const throughput = lineChart("throughput", "/s", ["records", "dead letters"]);
    const queue = lineChart("queue", "", ["queue depth", "in flight"]);
    const batches = barChart("batch sizes");
    charts.append(throughput.box, queue.box, batches.box);
    const steps = el("div", { class: "charts steps" });
    const tables = el("div", { class: "tables" });
    section.append(el("h2", {}, `${name} `, version, " ", ready), reason, numbers, charts, steps, tables);
    document.getElementById("models").append(section);
    return { section, ready, version, reason, stat, throughput, queue, batches, steps, stepCharts: new Map(), tables };
  }

  // ``snap``: the model's full snapshot now (null while it loads); ``history``: its samples for the charts.
  function updateView(view, model, snap, history, now) {
    setText(view.version, model.version || "");
    setText(view.ready, model.ready ? "ready" : "not ready");
    view.ready.className = "pill " + (model.ready ? "ok" : "bad");
    setText(view.reason, model.ready ? "" : model.reason);
    if (snap) {
      for (const [key] of NUMBERS) setText(view.stat[key], fmt(snap[key], key === "records_per_s" ? 3 : 12));
      view.batches.update(snap.batch_sizes);
      view.tables.replaceChildren(stepTable(snap.steps), deadTable(snap), qualityTable(snap.data_quality));
    }
    if (!history.length) return;
    const rates = rateSeries(history);
    const width = Math.min(WINDOW_MS, Math.max(MIN_SPAN_MS, now - history[0].t));  // the x axis grows to the window
    view.throughput.update([rates.records, rates.dead], now, width);
    view.queue.update([series(history, (s) => s.queue_depth), series(history, (s) => s.in_flight)], now, width);
    updateSteps(view, history, now, width);
  }

  function updateSteps(view, history, now, width) {
    const snap = history[history.length - 1].snap;
    for (const step of Object.keys(snap.steps || {})) {
      if (!view.stepCharts.has(step)) {
        const chart = lineChart(`${step} latency`, "ms", ["p50", "p95", "p99"]);
        chart.box.setAttribute("data-step", step);
        view.steps.append(chart.box);
        view.stepCharts.set(step, chart);
      }
      const pick = (key) => series(history, (s) => (s.steps && s.steps[step] ? s.steps[step][key] : null));
      view.stepCharts.get(step).update([pick("p50_ms"), pick("p95_ms"), pick("p99_ms")], now, width);
    }
  }

  function series(history, value) {
    return history.map((h) => [h.t, value(h.snap)]).filter((p) => p[1] !== null && p[1] !== undefined);
  }

  // Records/s and dead letters/s between consecutive samples of the same worker.
  function rateSeries(history) {
    const records = [], dead = [], last = new Map();
    for (const h of history) {
      const prev = last.get(h.worker);
      last.set(h.worker, h);
      const dt = prev ? h.snap.uptime_s - prev.snap.uptime_s : 0;
      if (!prev || dt <= 0 || h.snap.records_in < prev.snap.records_in) continue;
      records.push([h.t, (h.snap.records_in - prev.snap.records_in) / dt]);
      dead.push([h.t, Math.max(0, h.snap.dead_letters - prev.snap.dead_letters) / dt]);
    }
    return { records, dead };
  }

  // ---- tables -------------------------------------------------------------------------------
  function table(caption, kind, head, rows) {
    const body = el("tbody");
    for (const [key, ...cells] of rows) {
      body.append(el("tr", { [`data-${kind}`]: key }, el("th", {}, key), ...cells.map((c) => el("td", {}, String(c)))));
    }
    if (!rows.length) body.append(el("tr", {}, el("td", { colspan: head.length }, "none yet")));
    const headRow = el("tr", {}, ...head.map((h) => el("th", {}, h)));
    return el("table", { class: kind }, el("caption", {}, caption), el("thead", {}, headRow), body);
  }
  function stepTable(steps) {
    const rows = Object.entries(steps || {}).map(([step, s]) =>
      [step, s.count, s.errors, fmt(s.p50_ms), fmt(s.p95_ms), fmt(s.p99_ms), fmt(s.max_ms)]);
    return table("steps (ms, rolling window)", "step", ["step", "calls", "errors", "p50", "p95", "p99", "max"], rows);
  }
  function deadTable(snap) {
    const rows = Object.entries(snap.dead_letters_by_step || {}).sort((a, b) => b[1] - a[1]);
    return table("dead letters by step", "dead-step", ["step", "records"], rows);
  }
  function qualityTable(quality) {
    if (!quality) return el("p", { class: "quality none" }, "Data quality: no fields configured (feature_names, required_fields…).");
    const rows = Object.entries(quality.fields || {}).map(([field, c]) => [field, c.present, c.missing, c.null, c.type_mismatch]);
    const caption = `data quality: ${quality.records} records, ${quality.renamed} renamed, ` +
      `${quality.dropped} dropped, ${quality.unexpected} unexpected`;
    return table(caption, "field", ["field", "present", "missing", "null", "type mismatch"], rows);
  }

  // ---- polling ------------------------------------------------------------------------------
  async function getJSON(url) {
    const response = await fetch(url, { headers: { Accept: "application/json" }, cache: "no-store" });
    if (!response.ok) throw new Error(`${url} answered ${response.status}`);
    return { body: await response.json(), worker: response.headers.get("x-packflow-worker") || "" };
  }

  function perModel(doc, stats) {
    const names = Object.keys(doc.models);
    return names.length === 1 ? { [names[0]]: stats } : stats || {};  // one model: /stats is its snapshot
  }

  function render(doc, stats, worker) {
    const now = Date.now();
    const server = document.getElementById("readiness");
    setText(server, doc.ready ? "ready" : "not ready");
    server.className = "pill " + (doc.ready ? "ok" : "bad");
    setText(document.getElementById("uptime"), fmtUptime(doc.uptime_s));
    setText(document.getElementById("pid"), worker);  // the worker whose numbers are shown
    setText(document.getElementById("updated"), new Date(now).toLocaleTimeString("en-GB"));
    const snaps = perModel(doc, stats);
    for (const [name, model] of Object.entries(doc.models)) {
      if (!views.has(name)) views.set(name, createView(name));
      const history = samples.get(name) || [];
      if (snaps[name]) history.push({ t: now, worker, snap: snaps[name] });
      while (history.length && history[0].t < now - WINDOW_MS) history.shift();
      samples.set(name, history);
      updateView(views.get(name), model, snaps[name], history, now);
    }
  }

  function setConnection(problem) {
    const node = document.getElementById("connection");
    node.hidden = !problem;
    setText(node, problem ? `not updating: ${problem}` : "");
  }

  // The server's own recent samples (GET /stats/history), so the charts do not start empty.
  async function seed() {
    try {
      const { body, worker } = await getJSON("/stats/history");
      const offset = Date.now() - body.now * 1000;  // server clock -> this browser's clock
      for (const [name, list] of Object.entries(body.models)) {
        samples.set(name, list.map((snap) => ({ t: snap.t * 1000 + offset, worker, snap })));
      }
    } catch (error) {
      setConnection(`no history: ${error.message}`);
    }
  }

  async function poll() {
    try {
      const [doc, stats] = await Promise.all([getJSON("/"), getJSON("/stats")]);
      render(doc.body, stats.body, stats.worker || String(doc.body.pid));
      setConnection(null);
    } catch (error) {
      setConnection(error.message);
    } finally {
      setTimeout(poll, POLL_MS);
    }
  }

  document.getElementById("window").textContent = String(WINDOW_MS / 60000);
  seed().then(poll);
})();
