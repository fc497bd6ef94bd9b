// @ts-check
// The halfopen dashboard page. Its reads of the records are type-checked
// (tsconfig.web.json, in the quality gate) against the one definition the
// server and `watch --json` use: renaming a field breaks the build.
//
/** @typedef {import("../src/dashboard/model.js").Snapshot} Snapshot */
/** @typedef {import("../src/dashboard/model.js").LiveRecord} LiveRecord */
/** @typedef {import("../src/dashboard/model.js").ProcessRow} ProcessRow */
/** @typedef {import("../src/dashboard/model.js").ScanRecord} ScanRecord */
/** @typedef {import("../src/dashboard/model.js").ScanView} ScanView */
/** @typedef {import("../src/core/watch-records.js").IncidentRecord} IncidentRecord */
/** @typedef {import("../src/core/watch-records.js").VerdictRecord} VerdictRecord */
/** @typedef {import("../src/core/watch-records.js").WarningRecord} WarningRecord */
/** @typedef {import("../src/core/watch-records.js").LostRecord} LostRecord */
/** @typedef {import("../src/core/watch-records.js").StartRecord} StartRecord */
//
// The halfopen dashboard page. Everything a process controls (its name,
// command line, user) is set with textContent, never as HTML. No inline
// script or style: the server's Content-Security-Policy forbids both.
//
// The token comes in the URL's fragment (#token=...), which the browser never
// sends to a server; it is kept in sessionStorage (this origin only: scheme,
// host and port), taken out of the address bar, and sent as a bearer header.
// The event stream gets a one-time ticket for each connection.
import { api, postJson, token } from "./api.js";
import { $, el, onFrame, printable } from "./dom.js";

{
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
    canKill: false,
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

  /** @param {ProcessRow[]} rows */
  function applyRows(rows) {
    for (const r of rows) {
      const old = state.rows.get(r.key);
      state.rows.set(r.key, { ...r, seenAt: old ? old.seenAt : Date.now() });
    }
  }

  /** The command line, cut by CSS; the whole of it in the tooltip (a property, set as text). */
  /** The process name, and a badge when it sends SYNs without connect() (raw IP or packet socket). */
  function nameCell(r) {
    const td = el("td", printable(r.name), "name");
    if (r.via) {
      const badge = el("span", r.via, "via");
      badge.title = `sends SYNs without connect(), through a ${r.via === "raw" ? "raw IP socket" : "packet socket"}`;
      td.append(" ", badge);
    }
    return td;
  }

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
        nameCell(r),
        el("td", printable(r.user || ""), "user"),
        cmdCell(printable(r.cmdline || "")),
        el("td", r.halfOpen, "n halfopen"),
        el("td", r.attempts, "n"),
        el("td", r.attempts ? `${r.failed} (${Math.round(r.failureRatio * 100)}%)` : "0", "n"),
        el("td", r.verdict || "", "verdict"),
      );
      const act = el("td");
      if (!r.exited && state.canKill && r.startTime !== undefined) {
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
    const { res, body } = await postJson(`/api/processes/${r.pid}/kill`, { name: r.name, startTime: r.startTime, signal: "TERM" });
    note(res.ok ? `sent ${body.signal} to ${body.name}[${body.pid}]: ${body.result}` : `could not end ${r.name}[${r.pid}]: ${body.error ? body.error.message : res.status}`);
  });

  // ---- incidents ----
  /** @param {IncidentRecord} i */
  function incidentLine(i) {
    const when = new Date(i.startedAtWall).toLocaleTimeString();
    const trig = i.trigger ? `${printable(i.trigger.name)}[${i.trigger.pid}]` : "?";
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
      $("export-csv").dataset.path = `/api/incidents.csv${q}`;
      $("export-json").dataset.path = `/api/incidents${q}`;
    } else {
      $("range").textContent = "";
      $("export-csv").dataset.path = "/api/incidents.csv";
      $("export-json").dataset.path = "/api/incidents";
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
      const res = await api(`/api/incidents/${i.id}`);
      if (res.ok) detail = await res.json();
    }
    const box = $("incident-detail");
    const lines = [incidentLine(i), ""];
    lines.push("processes:");
    for (const p of detail.processes || []) {
      lines.push(`  ${printable(p.name)}[${p.pid}] ${p.attempts} ${p.via ? `${p.via} SYNs (no connect())` : "attempts"}, peak ${p.peakHalfOpen} half-open${p.verdict ? `, ${p.verdict.verdict}` : ""}`);
      if (p.cmdline) lines.push(`    ${printable(p.cmdline.join(" "))}`);
      if (p.held && p.held.held > 0) lines.push(`    held: ${p.held.held} attempts, median wait ${(p.held.medianWaitMs / 1000).toFixed(1)} s${p.held.contained ? `, contained to ${p.held.contained.limit} in flight` : ""}`);
      // By the name a DNS answer gave (never a reverse lookup), else the address.
      const to = [...new Set((p.sample || []).map((s) => (s.dstName ? `${s.dstName}:${s.dst.slice(s.dst.lastIndexOf(":") + 1)}` : s.dst)))];
      if (to.length) lines.push(`    to: ${printable(to.join(" "))}`);
    }
    if (detail.outcomes) lines.push("", `outcomes: ${Object.entries(detail.outcomes).map(([k, v]) => `${k} ${v}`).join(", ")}`);
    if (detail.topDestinations?.length) {
      lines.push("", "destinations:");
      for (const d of detail.topDestinations) lines.push(`  ${printable(d.dst ?? (d.address !== undefined ? `${d.name ? `${d.name} (${d.address})` : d.address}:${d.port}` : JSON.stringify(d)))} ${d.attempts ?? d.count ?? ""}`);
    }
    if (detail.osEvents?.length) lines.push("", `OS limit events (4226): ${detail.osEvents.length}`);
    box.textContent = lines.join("\n");
    box.hidden = false;
  }

  // ---- scans (started from this page; stored ones read back) ----
  const scanState = {
    available: false,
    briefs: new Map(), // id -> brief, this run
    view: undefined, // the scan shown: { kind: "run" | "stored", ...scan, hosts }
    stored: [],
  };
  const GRID_PORTS = 24;
  const GRID_ROWS = 500;
  const STATE_MARK = { open: "●", closed: "·", filtered: "f", unknown: "?" };

  /** Addresses in numeric order, IPv4 before IPv6. */
  function addressKey(a) {
    if (!a.includes(":")) return `4${a.split(".").map((o) => o.padStart(3, "0")).join(".")}`;
    const [head, tail = ""] = a.split("::");
    const h = head ? head.split(":") : [];
    const t = tail ? tail.split(":") : [];
    const groups = a.includes("::") ? [...h, ...Array(8 - h.length - t.length).fill("0"), ...t] : h;
    return `6${groups.map((g) => g.padStart(4, "0")).join(":")}`;
  }

  function changeText(c) {
    const open = c.open && c.open.length ? `; open ${c.open.join(",")}` : "";
    switch (c.change) {
      case "host-up": return `${c.address} is up (${c.reason})${open}`;
      case "host-down": return `${c.address} is down${open ? ` (had${open.slice(1)})` : ""}`;
      case "port-opened": return `${c.address} ${c.port}/tcp opened (was ${c.from})`;
      case "port-closed": return `${c.address} ${c.port}/tcp no longer open (${c.to})`;
      default: return `${c.address} ${c.port}/tcp ${c.from} → ${c.to}`;
    }
  }
  const changeClass = (c) => ({ "host-up": "up", "host-down": "down", "port-opened": "opened", "port-closed": "closed" })[c.change] || "";

  function scanLabel(s) {
    const when = new Date(s.startedAtWall).toLocaleTimeString();
    const targets = s.spec.targets.join(" ");
    return `${when} ${targets.length > 40 ? `${targets.slice(0, 39)}…` : targets}`;
  }

  function seriesBusy() {
    return [...scanState.briefs.values()].some((s) => s.state === "running" || s.nextAtWall !== undefined);
  }

  function renderScanControls() {
    const busy = seriesBusy();
    $("scan-start").disabled = busy;
    $("scan-stop").disabled = !busy;
    const current = [...scanState.briefs.values()].pop();
    const box = $("scan-progress-box");
    if (!current) {
      box.hidden = true;
      $("scan-state").textContent = "";
      return;
    }
    box.hidden = false;
    const p = current.progress;
    const bar = $("scan-progress");
    bar.max = Math.max(1, p.total);
    bar.value = p.done;
    const eta = p.etaMs !== undefined ? `, about ${Math.ceil(p.etaMs / 1000)} s left` : "";
    let text = `scan ${current.id}${current.round > 1 ? ` (round ${current.round})` : ""}: ${p.done}/${p.total} addresses, ${p.up} up, ${p.open} open${p.unknown ? `, ${p.unknown} unknown` : ""}, ${p.ratePerS}/s${current.state === "running" ? eta : ""} · ${current.state}`;
    if (current.nextAtWall !== undefined) text += ` · next round at ${new Date(current.nextAtWall).toLocaleTimeString()}`;
    $("scan-progress-text").textContent = text;
    $("scan-state").textContent = current.state === "running" ? "running" : current.nextAtWall !== undefined ? "waiting for the next round" : "";
  }

  function renderScanLists() {
    const list = $("scan-list");
    const frag = document.createDocumentFragment();
    for (const s of [...scanState.briefs.values()].reverse()) {
      const changes = s.changeCount !== undefined && s.previous ? `, ${s.changeCount} change${s.changeCount === 1 ? "" : "s"}` : "";
      const li = el("li", `#${s.id} ${scanLabel(s)} · ${s.state}, ${s.progress.up} up, ${s.progress.open} open${changes}`);
      li.dataset.id = String(s.id);
      if (scanState.view && scanState.view.kind === "run" && scanState.view.id === s.id) li.classList.add("selected");
      li.addEventListener("click", () => showRunScan(s.id));
      frag.append(li);
    }
    list.replaceChildren(frag);
    const stored = document.createDocumentFragment();
    // This run's rounds are listed above; the database's others (earlier runs, halfopen scan) here.
    const mine = new Set([...scanState.briefs.values()].map((b) => b.scanId).filter((x) => x !== undefined));
    const earlier = scanState.stored.filter((s) => !mine.has(s.id));
    for (const s of earlier) {
      const li = el("li", `stored #${s.id} ${scanLabel(s)} · ${s.state}, ${s.up} up, ${s.open} open`);
      li.dataset.id = String(s.id);
      if (scanState.view && scanState.view.kind === "stored" && scanState.view.id === s.id) li.classList.add("selected");
      li.addEventListener("click", () => showStoredScan(s.id));
      stored.append(li);
    }
    if (earlier.length === 0) stored.append(el("li", scanState.storing ? "none yet" : "none: this watch has no database (a replay stores only with --db)", "muted"));
    $("scan-stored").replaceChildren(stored);
  }

  // The grid can be hundreds of rows by dozens of ports: redrawn at most four times a second while hosts arrive.
  let scanViewTimer;
  let scanViewDrawnAt = 0;
  const drawScanView = onFrame(() => {
    scanViewDrawnAt = Date.now();
    renderScanView();
  });
  function scheduleScanView() {
    if (scanViewTimer !== undefined) return;
    scanViewTimer = setTimeout(() => {
      scanViewTimer = undefined;
      drawScanView();
    }, Math.max(0, scanViewDrawnAt + 250 - Date.now()));
  }

  /** Ports for the grid's columns: every scanned port when few, else those open (or unknown) somewhere. */
  function gridPorts(v) {
    if (v.spec.ports.length <= GRID_PORTS) return { ports: v.spec.ports, note: "" };
    const seen = new Set();
    for (const h of v.hosts) for (const p of h.ports) if (p.state === "open" || p.state === "unknown") seen.add(p.port);
    const ports = [...seen].sort((a, b) => a - b).slice(0, 64);
    return { ports, note: `${v.spec.ports.length} ports scanned; the grid shows the ${ports.length} open on some host` };
  }

  function renderScanView() {
    const v = scanState.view;
    if (!v) return;
    const kind = v.kind === "stored" ? `stored scan #${v.id}` : `scan #${v.id}${v.round > 1 ? `, round ${v.round}` : ""}${v.scanId !== undefined ? ` (stored as #${v.scanId})` : ""}`;
    $("scan-title").textContent = `${kind}: ${v.spec.targets.join(" ")}`;
    const s = v.summary;
    $("scan-summary").textContent = s
      ? `${v.state}: ${s.done}/${s.total} addresses in ${(s.elapsedMs / 1000).toFixed(1)} s, ${s.up} up, ${s.open} open; at most ${s.peakInFlight} half-open (budget ${v.spec.maxHalfOpen}); discovery ${s.discovery}${s.discoveryNote ? ` (${s.discoveryNote})` : ""}${v.error ? `; ${v.error}` : ""}`
      : `${v.state}; budget ${v.spec.maxHalfOpen} half-open, ${v.spec.ports.length} ports`;
    const changesBox = $("scan-changes-box");
    if (v.changes && v.previous) {
      changesBox.hidden = false;
      $("scan-changes-since").textContent = v.previous.id !== undefined ? `since scan #${v.previous.id}` : `since stored scan #${v.previous.scanId}`;
      const frag = document.createDocumentFragment();
      if (v.changes.length === 0) frag.append(el("li", "none"));
      for (const c of v.changes) frag.append(el("li", changeText(c), changeClass(c)));
      $("scan-changes").replaceChildren(frag);
    } else changesBox.hidden = true;

    const hosts = v.hosts.filter((h) => h.status === "up").sort((a, b) => (addressKey(a.address) < addressKey(b.address) ? -1 : 1));
    const { ports, note } = gridPorts(v);
    const shown = hosts.slice(0, GRID_ROWS);
    $("scan-grid-note").textContent = [note, hosts.length > GRID_ROWS ? `first ${GRID_ROWS} of ${hosts.length} hosts` : "", v.truncated ? "more hosts were found than the page keeps; the database has them all" : "", v.dropped && !v.hosts.length ? "this round's hosts are no longer kept (and it was not stored)" : "", "● open, · closed, f filtered, ? unknown"].filter(Boolean).join("; ");
    const grid = document.createDocumentFragment();
    const head = el("tr");
    head.append(el("th", "host", "host"), ...ports.map((p) => el("th", p)));
    grid.append(head);
    for (const h of shown) {
      const tr = el("tr");
      tr.dataset.address = h.address;
      tr.append(el("td", h.address, "host"));
      const by = new Map(h.ports.map((p) => [p.port, p]));
      for (const port of ports) {
        const p = by.get(port);
        const td = el("td", p ? STATE_MARK[p.state] || p.state : "", p ? p.state : "");
        td.dataset.port = String(port);
        if (p) td.title = `${h.address} ${port}/tcp ${p.state} (${p.reason})${p.rttMs !== undefined ? `, ${p.rttMs.toFixed(1)} ms` : ""}${p.banner ? `: ${printable(p.banner)}` : ""}`;
        tr.append(td);
      }
      grid.append(tr);
    }
    $("scan-grid").replaceChildren(grid);

    const rows = document.createDocumentFragment();
    for (const h of shown) {
      const tr = el("tr");
      tr.dataset.address = h.address;
      const open = h.ports.filter((p) => p.state === "open");
      const rtts = open.map((p) => p.rttMs).filter((x) => x !== undefined);
      const other = new Map();
      for (const p of h.ports) if (p.state !== "open") other.set(p.state, (other.get(p.state) || 0) + 1);
      const names = h.names && h.names.length ? ` (${h.names.map(printable).join(", ")})` : "";
      tr.append(
        el("td", `${h.address}${names}`),
        el("td", h.reason),
        el("td", rtts.length ? `${Math.min(...rtts).toFixed(1)} ms` : "", "n"),
        el("td", open.map((p) => `${p.port}${p.banner ? ` “${printable(p.banner.trim()).slice(0, 60)}”` : ""}`).join(", "), "open-ports"),
        el("td", [...other].map(([k, n]) => `${n} ${k}`).join(", ")),
      );
      rows.append(tr);
    }
    $("scan-table").querySelector("tbody").replaceChildren(rows);
  }

  async function showRunScan(id) {
    const res = await api(`/api/scans/${id}`);
    if (!res.ok) return;
    const view = { kind: "run", ...(await res.json()) };
    if (view.dropped && view.scanId !== undefined) {
      // The page's memory let this round's hosts go; the database has them.
      const stored = await api(`/api/scans/stored/${view.scanId}`);
      if (stored.ok) view.hosts = (await stored.json()).hosts;
    }
    scanState.view = view;
    renderScanLists();
    renderScanView();
  }

  async function showStoredScan(id) {
    const res = await api(`/api/scans/stored/${id}`);
    if (!res.ok) return;
    const s = await res.json();
    scanState.view = { kind: "stored", ...s, hosts: s.hosts, round: 1 };
    renderScanLists();
    renderScanView();
  }

  async function loadScans() {
    const res = await api("/api/scans");
    if (!res.ok) return;
    const body = await res.json();
    scanState.available = body.available;
    $("scans").hidden = !body.available;
    if (!body.available) return;
    scanState.stored = body.stored;
    scanState.storing = body.storing;
    if (body.defaults && !$("scan-budget").value) $("scan-budget").value = String(body.defaults.maxHalfOpen);
    if (body.defaults && body.defaults.ports.length) $("scan-ports").placeholder = `${body.defaults.ports.length} common ports`;
    renderScanLists();
  }

  function scanError(message) {
    const p = $("scan-error");
    p.textContent = message || "";
    p.hidden = !message;
  }


  async function startScan(confirmed) {
    scanError("");
    const request = {
      targets: $("scan-targets").value,
      ports: $("scan-ports").value,
      maxHalfOpen: $("scan-budget").value ? Number($("scan-budget").value) : undefined,
      discovery: $("scan-discovery").checked,
      banner: $("scan-banner").checked,
      everyS: $("scan-every").value ? Number($("scan-every").value) : undefined,
      yes: confirmed,
    };
    const { res, body } = await postJson("/api/scans", request);
    if (res.ok) return;
    const err = body.error || { message: `HTTP ${res.status}` };
    if (err.code === "HALFOPEN_NEEDS_CONFIRMATION" && !confirmed && window.confirm(`${err.message.replace(/: add --yes$/, "")}. Scan them anyway?`)) return startScan(true);
    scanError(err.message);
  }

  $("scan-form").addEventListener("submit", (e) => {
    e.preventDefault();
    void startScan(false);
  });
  $("scan-stop").addEventListener("click", async () => {
    const { res, body } = await postJson("/api/scans/stop", {});
    if (!res.ok) scanError(body.error ? body.error.message : `HTTP ${res.status}`);
  });

  /** @param {Snapshot} s */
  function onScanSnapshot(s) {
    scanState.briefs.clear();
    for (const b of s.scans || []) scanState.briefs.set(b.id, b);
    if (s.scan && (!scanState.view || scanState.view.kind === "run")) scanState.view = { kind: "run", ...s.scan };
    renderScanControls();
    renderScanLists();
    renderScanView();
  }

  /**
   * @param {string} type
   * @param {ScanRecord & Record<string, any>} d a scan record of that type (its fields read as that type declares them)
   */
  function onScanEvent(type, d) {
    if (type === "scan-start") {
      scanState.briefs.set(d.id, { id: d.id, series: d.series, round: d.round, spec: d.spec, state: "running", startedAtWall: d.startedAtWall, progress: { done: 0, total: d.total, up: 0, open: 0, unknown: 0, ratePerS: 0 }, truncated: false, ...(d.scanId !== undefined ? { scanId: d.scanId } : {}) });
      for (const b of scanState.briefs.values()) if (b.series === d.series && b.id !== d.id) delete b.nextAtWall;
      while (scanState.briefs.size > 20) scanState.briefs.delete(scanState.briefs.keys().next().value);
      // A new scan is shown unless the user is looking at another one of a different series.
      if (!scanState.view || scanState.view.kind === "run") scanState.view = { kind: "run", ...scanState.briefs.get(d.id), hosts: [] };
      renderScanLists();
      renderScanView();
    } else if (type === "scan-stop") {
      for (const b of scanState.briefs.values()) if (b.series === d.series) delete b.nextAtWall;
    } else {
      const b = scanState.briefs.get(d.id);
      if (!b) return;
      const v = scanState.view && scanState.view.kind === "run" && scanState.view.id === d.id ? scanState.view : undefined;
      if (type === "scan-progress") b.progress = d.progress;
      else if (type === "scan-hosts") {
        if (v) v.hosts.push(...d.hosts);
      } else if (type === "scan-end") {
        Object.assign(b, { state: d.state, endedAtWall: d.endedAtWall, progress: d.progress, summary: d.summary, changeCount: d.changes ? d.changes.length : undefined });
        for (const k of ["previous", "scanId", "nextAtWall", "error"]) if (d[k] !== undefined) b[k] = d[k];
        if (v) Object.assign(v, b, { changes: d.changes, hosts: v.hosts });
        renderScanLists();
        void loadScans();
      }
      if (v) {
        if (type !== "scan-hosts") Object.assign(v, { progress: b.progress });
        scheduleScanView();
      }
    }
    renderScanControls();
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

  const scheduleDraw = onFrame(() => {
    drawChart();
    if (!state.paused) renderTable();
  });

  /** @param {Snapshot & { actions?: { kill: boolean; scans: boolean } }} s */
  function onSnapshot(s) {
    state.canKill = Boolean(s.actions && s.actions.kill);
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
    onScanSnapshot(s);
    scheduleDraw();
  }

  /** @param {StartRecord} st */
  function onStart(st) {
    state.replay = Boolean(st.replay);
    const details = st.sourceDetails ? ` (${Object.entries(st.sourceDetails).map(([k, v]) => `${k}: ${v}`).join(", ")})` : "";
    const e = st.enforce;
    const enforce = e ? `; ${e.dryRun ? "dry run: would hold" : "holding"} SYNs past ${e.limit} in flight per ${e.per}, released ${e.release === "slot" ? "when a slot frees" : `at ${e.release.slice(5)}`}` : "";
    $("source").textContent = `source ${st.source}${details}${st.replay ? ", replay" : ""}${enforce}`;
  }

  // The id of the last event applied: a new stream resumes after it.
  let lastEventId;
  let retryMs = 500;
  async function connect() {
    if (!token) {
      setLive(false, "no token: open the URL halfopen watch printed");
      return;
    }
    let ticket;
    try {
      const res = await api("/api/tickets", { method: "POST", headers: { "content-type": "application/json" }, body: "{}" });
      if (res.status === 401) {
        setLive(false, "token refused: open the URL this run of halfopen watch printed");
        return;
      }
      if (res.ok) ticket = (await res.json()).ticket;
    } catch {
      // the watch is gone or restarting: try again below
    }
    if (!ticket) {
      setLive(false, "reconnecting…");
      setTimeout(connect, (retryMs = Math.min(retryMs * 2, 10_000)));
      return;
    }
    const resume = lastEventId === undefined ? "" : `&lastEventId=${encodeURIComponent(lastEventId)}`;
    const es = new EventSource(`/api/events?ticket=${encodeURIComponent(ticket)}${resume}`);
    /** Every event handler notes the id, so the next stream resumes after it. */
    const on = (type, fn) =>
      es.addEventListener(type, (e) => {
        if (e.lastEventId) lastEventId = e.lastEventId;
        fn(e);
      });
    es.addEventListener("open", () => {
      retryMs = 500;
      setLive(true, "live");
    });
    // A ticket is spent once: a new stream needs a new one (EventSource would retry with the old).
    es.addEventListener("error", () => {
      es.close();
      setLive(false, "reconnecting…");
      setTimeout(connect, retryMs);
    });
    on("snapshot", (e) => onSnapshot(JSON.parse(e.data)));
    on("live", (e) => {
      /** @type {LiveRecord} */
      const d = JSON.parse(e.data);
      state.points.push({ t: d.t, halfOpen: d.halfOpen, top: d.top });
      if (state.points.length > 2400) state.points.shift();
      $("now").textContent = String(d.halfOpen);
      if (state.paused) state.pending.push(d.rows);
      else applyRows(d.rows);
      scheduleDraw();
    });
    for (const type of ["incident-open", "incident"]) {
      on(type, (e) => {
        /** @type {IncidentRecord} */
        const i = JSON.parse(e.data);
        state.incidents.set(String(i.runIncident ?? i.id), i);
        renderIncidents();
      });
    }
    on("verdict", (e) => {
      /** @type {VerdictRecord} */
      const v = JSON.parse(e.data);
      const r = state.rows.get(v.processKey);
      if (r) r.verdict = v.verdict;
      scheduleDraw();
    });
    on("warning", (e) => note(/** @type {WarningRecord} */ (JSON.parse(e.data)).message));
    on("lost", (e) => note(`the source lost ${/** @type {LostRecord} */ (JSON.parse(e.data)).count} events`));
    on("start", (e) => onStart(JSON.parse(e.data)));
    on("stop", () => setLive(false, "stopped"));
    for (const type of ["scan-start", "scan-progress", "scan-hosts", "scan-end", "scan-stop"]) on(type, (e) => onScanEvent(type, JSON.parse(e.data)));
  }

  // Exports go through fetch (the token is a header), then download as a file.
  for (const [id, name] of [["export-csv", "incidents.csv"], ["export-json", "incidents.json"]]) {
    $(id).addEventListener("click", async (e) => {
      e.preventDefault();
      const res = await api($(id).dataset.path || $(id).getAttribute("href"));
      if (!res.ok) return note(`could not export: ${res.status}`);
      const url = URL.createObjectURL(await res.blob());
      const a = document.createElement("a");
      a.href = url;
      a.download = name;
      a.click();
      setTimeout(() => URL.revokeObjectURL(url), 10_000);
    });
  }

  window.addEventListener("resize", () => {
    plot?.setSize({ width: Math.max(320, chartEl.clientWidth || 800), height: 260 });
  });
  void loadScans();
  connect();
}

