// The halfopen dashboard page. Everything a process controls (its name,
// command line, user) is set with textContent, never as HTML. No inline
// script or style: the server's Content-Security-Policy forbids both.
"use strict";

(() => {
  const $ = (id) => document.getElementById(id);
  const el = (tag, text, cls) => {
    const e = document.createElement(tag);
    if (text !== undefined) e.textContent = String(text);
    if (cls) e.className = cls;
    return e;
  };
  const COLORS = ["#1565c0", "#6a1b9a", "#00838f", "#ef6c00", "#2e7d32"];
  const NEW_MS = 5000;

  const state = {
    limit: 0,
    points: [],
    rows: new Map(),
    incidents: new Map(),
    warnings: [],
    range: undefined,
    paused: false,
    pending: [],
    replay: false,
    seriesKeys: [],
  };

  // ---- chart (uPlot): total half-open, the limit, the top processes; incident markers ----
  let plot;
  const chartEl = $("chart");
  const markers = {
    hooks: {
      draw: [
        (u) => {
          const ctx = u.ctx;
          ctx.save();
          for (const inc of state.incidents.values()) {
            for (const [t, color] of [
              [inc.startedAtWall, "#c62828"],
              [inc.endedAtWall, "#9e9e9e"],
            ]) {
              if (typeof t !== "number") continue;
              const x = Math.round(u.valToPos(t / 1000, "x", true));
              if (x < u.bbox.left || x > u.bbox.left + u.bbox.width) continue;
              ctx.strokeStyle = color;
              ctx.setLineDash([4, 3]);
              ctx.beginPath();
              ctx.moveTo(x, u.bbox.top);
              ctx.lineTo(x, u.bbox.top + u.bbox.height);
              ctx.stroke();
            }
          }
          ctx.restore();
        },
      ],
      setSelect: [
        (u) => {
          if (u.select.width < 3) return;
          const from = u.posToVal(u.select.left, "x") * 1000;
          const to = u.posToVal(u.select.left + u.select.width, "x") * 1000;
          state.range = [from, to];
          renderIncidents();
        },
      ],
    },
  };

  function topKeys() {
    const peak = new Map();
    for (const p of state.points) for (const [k, v] of Object.entries(p.top)) peak.set(k, Math.max(peak.get(k) || 0, v));
    return [...peak].sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1)).slice(0, COLORS.length).map(([k]) => k);
  }

  function labelOf(key) {
    const r = state.rows.get(key);
    return r ? `${r.name}[${r.pid}]` : key;
  }

  function chartData(keys) {
    const xs = state.points.map((p) => p.t / 1000);
    return [xs, state.points.map((p) => p.halfOpen), state.points.map(() => state.limit), ...keys.map((k) => state.points.map((p) => p.top[k] || 0))];
  }

  function drawChart() {
    if (typeof uPlot === "undefined") return;
    const keys = topKeys();
    const width = Math.max(320, chartEl.clientWidth || 800);
    if (!plot || keys.join("\n") !== state.seriesKeys.join("\n")) {
      plot?.destroy();
      state.seriesKeys = keys;
      plot = new uPlot(
        {
          width,
          height: 260,
          plugins: [markers],
          cursor: { drag: { x: true, y: false } },
          scales: { x: { time: true }, y: { range: (_u, _min, max) => [0, Math.max(max, state.limit + 1)] } },
          series: [
            {},
            { label: "half-open", stroke: "#212121", width: 2 },
            { label: "limit", stroke: "#c62828", dash: [6, 4], width: 1 },
            ...keys.map((k, i) => ({ label: labelOf(k), stroke: COLORS[i], width: 1 })),
          ],
        },
        chartData(keys),
        chartEl,
      );
      plot.over.addEventListener("dblclick", () => {
        state.range = undefined;
        renderIncidents();
      });
    } else plot.setData(chartData(keys));
  }

  // ---- process table ----
  const tbody = $("table").querySelector("tbody");
  const search = $("search");
  search.addEventListener("input", () => renderTable());
  const table = $("table");
  table.addEventListener("mouseenter", () => {
    state.paused = true;
    $("paused").hidden = false;
  });
  table.addEventListener("mouseleave", () => {
    state.paused = false;
    $("paused").hidden = true;
    for (const rows of state.pending.splice(0)) applyRows(rows);
    renderTable();
  });

  function applyRows(rows) {
    for (const r of rows) {
      const old = state.rows.get(r.key);
      state.rows.set(r.key, { ...r, seenAt: old ? old.seenAt : Date.now() });
    }
  }

  /** The command line, cut by CSS; the whole of it in the tooltip (a property, set as text). */
  function cmdCell(text) {
    const td = el("td", text, "cmd");
    td.title = text;
    return td;
  }

  function renderTable() {
    const q = search.value.trim().toLowerCase();
    const rows = [...state.rows.values()]
      .filter((r) => !q || `${r.pid} ${r.name} ${r.user || ""} ${r.cmdline || ""}`.toLowerCase().includes(q))
      // Stable: live before exited, then half-open, attempts, and the key as the last word.
      .sort((a, b) => Number(a.exited) - Number(b.exited) || b.halfOpen - a.halfOpen || b.attempts - a.attempts || (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
    const frag = document.createDocumentFragment();
    const now = Date.now();
    for (const r of rows.slice(0, 200)) {
      const tr = el("tr");
      tr.dataset.key = r.key;
      tr.dataset.pid = String(r.pid);
      if (r.exited) tr.classList.add("exited");
      if (now - r.seenAt < NEW_MS) tr.classList.add("new");
      if (r.verdict === "scanner") tr.classList.add("scanner");
      tr.append(
        el("td", r.pid, "n"),
        el("td", r.name, "name"),
        el("td", r.user || "", "user"),
        cmdCell(r.cmdline || ""),
        el("td", r.halfOpen, "n halfopen"),
        el("td", r.attempts, "n"),
        el("td", r.attempts ? `${r.failed} (${Math.round(r.failureRatio * 100)}%)` : "0", "n"),
        el("td", r.verdict || "", "verdict"),
      );
      const act = el("td");
      if (!r.exited && !state.replay && r.startTime !== undefined) {
        const b = el("button", "end…", "kill");
        b.type = "button";
        b.addEventListener("click", () => askKill(r));
        act.append(b);
      }
      tr.append(act);
      frag.append(tr);
    }
    tbody.replaceChildren(frag);
  }

  // ---- ending a process ----
  const dialog = $("confirm");
  let confirmTarget;
  function askKill(r) {
    confirmTarget = r;
    $("confirm-text").textContent = `End ${r.name} (pid ${r.pid}, started at ${r.startTime} clock ticks after boot) with SIGTERM? Only if that pid is still the same process.`;
    dialog.showModal();
  }
  $("confirm-no").addEventListener("click", () => dialog.close());
  $("confirm-yes").addEventListener("click", async () => {
    dialog.close();
    const r = confirmTarget;
    const res = await fetch(`/api/processes/${r.pid}/kill`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ name: r.name, startTime: r.startTime, signal: "TERM" }) });
    const body = await res.json().catch(() => ({}));
    note(res.ok ? `sent ${body.signal} to ${body.name}[${body.pid}]: ${body.result}` : `could not end ${r.name}[${r.pid}]: ${body.error ? body.error.message : res.status}`);
  });

  // ---- incidents ----
  function incidentLine(i) {
    const when = new Date(i.startedAtWall).toLocaleTimeString();
    const trig = i.trigger ? `${i.trigger.name}[${i.trigger.pid}]` : "?";
    return `#${i.id} ${when}  peak ${i.peak}/${i.limit}  ${i.attempts} attempts  ${trig}  ${i.type === "incident-open" ? "open" : "closed"}`;
  }

  function renderIncidents() {
    const list = $("incident-list");
    let items = [...state.incidents.values()].sort((a, b) => b.startedAtWall - a.startedAtWall);
    if (state.range) {
      const [from, to] = state.range;
      items = items.filter((i) => i.startedAtWall <= to && (i.endedAtWall === undefined || i.endedAtWall >= from));
      $("range").textContent = `${new Date(from).toLocaleTimeString()} – ${new Date(to).toLocaleTimeString()} (double-click the chart to clear)`;
      const q = `?since=${Math.floor(from)}&until=${Math.ceil(to)}`;
      $("export-csv").href = `/api/incidents.csv${q}`;
      $("export-json").href = `/api/incidents${q}`;
    } else {
      $("range").textContent = "";
      $("export-csv").href = "/api/incidents.csv";
      $("export-json").href = "/api/incidents";
    }
    const frag = document.createDocumentFragment();
    for (const i of items) {
      const li = el("li", incidentLine(i), i.type === "incident-open" ? "open" : "");
      li.dataset.id = String(i.id);
      li.addEventListener("click", () => showIncident(i));
      frag.append(li);
    }
    list.replaceChildren(frag);
    plot?.redraw(false, false);
  }

  async function showIncident(i) {
    let detail = i;
    if (i.stored) {
      const res = await fetch(`/api/incidents/${i.id}`);
      if (res.ok) detail = await res.json();
    }
    const box = $("incident-detail");
    const lines = [incidentLine(i), ""];
    lines.push("processes:");
    for (const p of detail.processes || []) {
      lines.push(`  ${p.name}[${p.pid}] ${p.attempts} attempts, peak ${p.peakHalfOpen} half-open${p.verdict ? `, ${p.verdict.verdict}` : ""}`);
      if (p.cmdline) lines.push(`    ${p.cmdline.join(" ")}`);
    }
    if (detail.outcomes) lines.push("", `outcomes: ${Object.entries(detail.outcomes).map(([k, v]) => `${k} ${v}`).join(", ")}`);
    if (detail.topDestinations?.length) {
      lines.push("", "destinations:");
      for (const d of detail.topDestinations) lines.push(`  ${d.dst ?? d.destination ?? JSON.stringify(d)} ${d.attempts ?? d.count ?? ""}`);
    }
    if (detail.osEvents?.length) lines.push("", `OS limit events (4226): ${detail.osEvents.length}`);
    box.textContent = lines.join("\n");
    box.hidden = false;
  }

  // ---- notes ----
  function note(message) {
    state.warnings.push(message);
    $("warnings").append(el("li", message));
  }

  // ---- the event stream ----
  function setLive(ok, text) {
    const s = $("status");
    s.textContent = text;
    s.className = `status ${ok ? "live" : "down"}`;
  }

  let drawScheduled = false;
  function scheduleDraw() {
    if (drawScheduled) return;
    drawScheduled = true;
    requestAnimationFrame(() => {
      drawScheduled = false;
      drawChart();
      if (!state.paused) renderTable();
    });
  }

  function onSnapshot(s) {
    state.limit = s.limit;
    $("limit").textContent = String(s.limit);
    state.points = s.points;
    state.rows.clear();
    applyRows(s.rows);
    for (const r of state.rows.values()) r.seenAt = 0;
    state.incidents.clear();
    for (const i of s.incidents) state.incidents.set(String(i.runIncident ?? i.id), i);
    $("warnings").replaceChildren();
    state.warnings = [];
    for (const w of s.warnings) note(w);
    if (s.start) onStart(s.start);
    if (s.stopped) setLive(false, "stopped");
    const last = s.points[s.points.length - 1];
    if (last) $("now").textContent = String(last.halfOpen);
    renderIncidents();
    scheduleDraw();
  }

  function onStart(st) {
    state.replay = Boolean(st.replay);
    const details = st.sourceDetails ? ` (${Object.entries(st.sourceDetails).map(([k, v]) => `${k}: ${v}`).join(", ")})` : "";
    $("source").textContent = `source ${st.source}${details}${st.replay ? ", replay" : ""}`;
  }

  function connect() {
    const es = new EventSource("/api/events");
    es.addEventListener("open", () => setLive(true, "live"));
    es.addEventListener("error", () => setLive(false, "reconnecting…"));
    es.addEventListener("snapshot", (e) => onSnapshot(JSON.parse(e.data)));
    es.addEventListener("live", (e) => {
      const d = JSON.parse(e.data);
      state.points.push({ t: d.t, halfOpen: d.halfOpen, top: d.top });
      if (state.points.length > 2400) state.points.shift();
      $("now").textContent = String(d.halfOpen);
      if (state.paused) state.pending.push(d.rows);
      else applyRows(d.rows);
      scheduleDraw();
    });
    for (const type of ["incident-open", "incident"]) {
      es.addEventListener(type, (e) => {
        const i = JSON.parse(e.data);
        state.incidents.set(String(i.runIncident ?? i.id), i);
        renderIncidents();
      });
    }
    es.addEventListener("verdict", (e) => {
      const v = JSON.parse(e.data);
      const r = state.rows.get(v.processKey);
      if (r) r.verdict = v.verdict;
      scheduleDraw();
    });
    es.addEventListener("warning", (e) => note(JSON.parse(e.data).message));
    es.addEventListener("lost", (e) => note(`the source lost ${JSON.parse(e.data).count} events`));
    es.addEventListener("start", (e) => onStart(JSON.parse(e.data)));
    es.addEventListener("stop", () => setLive(false, "stopped"));
  }

  window.addEventListener("resize", () => {
    plot?.setSize({ width: Math.max(320, chartEl.clientWidth || 800), height: 260 });
  });
  connect();
})();
