/**
 * `halfopen watch` under hostile and unlucky conditions (issue 12), in a
 * network namespace the test creates: another watch in another pid
 * namespace, a watch killed with SIGKILL and its pid reused, tracing switched
 * off under a watch, megabyte command lines, a flood of idle metrics clients,
 * a storm of short-lived processes, a closed stdout, two watches on one
 * database. Root only; under CI a missing prerequisite fails instead of
 * skipping.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { execFileSync, spawn, spawnSync } from "node:child_process";
import { once } from "node:events";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import net from "node:net";
import { IncidentStore } from "../../src/store/incident-store.js";
import { findTracefs } from "../../src/platform/linux/tracefs-source.js";
import { describeLab, LAB_ADDRESS, REFUSED_PORT, droppedPorts } from "./lab.js";
import { assertCulpritNamed, CLI, REPO, descriptorsOf, openIdle, runConnector, runLabWorkload, WatchProcess, type JsonLine } from "./watch-process.js";


type Proc = { pid: number; name: string; attempts: number; exe?: string; cmdline?: string[]; user?: string; truncated?: string[] };

const TSX = [process.execPath, "--import", "tsx", CLI];

function instanceOf(start: JsonLine): string {
  return `${findTracefs()}/instances/${(start.sourceDetails as { instance: string }).instance}`;
}

/** Resolves once `pred()` holds, checking every 20 ms; rejects after `ms`. */
async function until(pred: () => boolean, ms: number, what: string): Promise<void> {
  const end = Date.now() + ms;
  while (!pred()) {
    if (Date.now() > end) throw new Error(`Timed out after ${ms} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

describeLab("halfopen watch hardening (tracefs, netns lab)", { file: "integration/watch-hardening", prefix: "hohard", needs: () => (spawnSync("unshare", ["--version"]).status === 0 ? undefined : "needs unshare (util-linux)") }, (lab) => {
  test("a second watch in a new pid namespace leaves the first one counting", async () => {
    // The watches here see only the lab's namespace: the host may be busy with other connects (CI makes it so).
    const a = new WatchProcess(["--interval", "0", "--quiet", "0.5", "--no-store", "--netns", lab.name]);
    let b: WatchProcess | undefined;
    try {
      const startA = await a.waitFor((l) => l.type === "start");
      const mineA = instanceOf(startA);
      b = new WatchProcess(["--interval", "0", "--no-store"], ["unshare", "--pid", "--fork", "--mount-proc", "--kill-child=SIGINT", ...TSX]);
      const startB = await b.waitFor((l) => l.type === "start");
      assert.equal(startB.pid, 1, "the second watch runs as pid 1 of its own pid namespace");
      await b.waitFor((l) => l.type === "warning" && String(l.message).includes("in use") && String(l.message).includes(mineA.split("/").pop() as string), 5000);
      assert.equal(readFileSync(`${mineA}/tracing_on`, "utf8").trim(), "1", "the first watch's instance still traces");
      // A culprit made after the second watch started is still named by the first.
      const c = await runConnector(lab, { title: "ho-after-ns", host: LAB_ADDRESS, ports: droppedPorts(30), holdMs: 600 });
      await c.exited;
      const incident = await a.waitFor((l) => l.type === "incident");
      const named = (incident.processes as Proc[]).find((p) => p.pid === c.pid);
      assert.equal(named?.attempts, 30, "the first watch saw every attempt");
    } finally {
      // unshare blocks SIGINT and SIGTERM while it waits: signal the watch it forked.
      if (b?.child.pid && b.child.exitCode === null) {
        const inner = readFileSync(`/proc/${b.child.pid}/task/${b.child.pid}/children`, "utf8").trim().split(/\s+/).map(Number)[0];
        if (inner) process.kill(inner, "SIGINT");
        await b.exitCode();
      }
      await a.stop();
    }
    const stop = a.lines.find((l) => l.type === "stop") as JsonLine;
    assert.equal((stop.source as { blindMs: number }).blindMs, 0, "the first watch was never blind");
  });

  test("a watch whose tracing is switched off under it says so, switches it back on and keeps counting", async () => {
    const w = new WatchProcess(["--interval", "0", "--quiet", "0.5", "--no-store", "--netns", lab.name]);
    try {
      const start = await w.waitFor((l) => l.type === "start");
      writeFileSync(`${instanceOf(start)}/tracing_on`, "0");
      const blind = await w.waitFor((l) => l.type === "blind", 5000);
      assert.match(String(blind.reason), /tracing_on was set to 0/);
      assert.ok((blind.durationMs as number) > 0);
      assert.equal(readFileSync(`${instanceOf(start)}/tracing_on`, "utf8").trim(), "1", "switched back on");
      const c = await runConnector(lab, { title: "ho-after-off", host: LAB_ADDRESS, ports: droppedPorts(20), holdMs: 600 });
      await c.exited;
      const incident = await w.waitFor((l) => l.type === "incident");
      assert.equal((incident.processes as Proc[]).find((p) => p.pid === c.pid)?.attempts, 20);
    } finally {
      await w.stop();
    }
    const stop = w.lines.find((l) => l.type === "stop") as JsonLine;
    const source = stop.source as { blindMs: number; blindSpells: number };
    assert.equal(source.blindSpells, 1);
    assert.ok(source.blindMs > 0, "the stop record carries the blind time, not zero loss");
  });

  test("a SIGKILLed watch's instance is removed by the next watch even when its pid is taken", async () => {
    const killed = new WatchProcess(["--interval", "0", "--no-store"]);
    const start = await killed.waitFor((l) => l.type === "start");
    const leaked = instanceOf(start);
    killed.child.kill("SIGKILL");
    await once(killed.child, "exit");
    assert.ok(existsSync(leaked), "SIGKILL leaves the instance behind");
    // Hand the dead watch's pid to another process (ns_last_pid: the next pid is that + 1).
    const pid = start.pid as number;
    let holder: ReturnType<typeof spawn> | undefined;
    for (let i = 0; i < 20 && holder?.pid !== pid; i++) {
      holder?.kill();
      writeFileSync("/proc/sys/kernel/ns_last_pid", String(pid - 1));
      holder = spawn("sleep", ["60"], { stdio: "ignore" });
    }
    try {
      assert.equal(holder?.pid, pid, "another process now has the killed watch's pid");
      const next = new WatchProcess(["--interval", "0", "--no-store"]);
      try {
        await next.waitFor((l) => l.type === "start");
        assert.equal(existsSync(leaked), false, "the leaked instance is gone");
        const name = leaked.split("/").pop() as string;
        await next.waitFor((l) => l.type === "warning" && /^removed \d+ stale tracefs instances? no process held open: .*/.test(String(l.message)) && String(l.message).includes(name), 5000);
      } finally {
        await next.stop();
      }
    } finally {
      holder?.kill();
    }
  });

  test("megabyte command lines give capped, truncated records; RSS stays low; older incidents survive retention", async () => {
    const w = new WatchProcess(["--interval", "0", "--quiet", "0.5", "--retain-size", "8", "--netns", lab.name]);
    const huge = Array.from({ length: 12 }, (_, i) => `${String.fromCharCode(97 + i)}`.repeat(125_000));
    try {
      await w.waitFor((l) => l.type === "start");
      const older = await runConnector(lab, { title: "ho-older", host: LAB_ADDRESS, ports: droppedPorts(15), holdMs: 400 });
      await older.exited;
      await w.waitFor((l) => l.type === "incident" && (l.processes as Proc[]).some((p) => p.pid === older.pid));
      const spec = { host: LAB_ADDRESS, ports: droppedPorts(3, 100), holdMs: 1500 };
      const hostile = await Promise.all(Array.from({ length: 40 }, () => runLabWorkload(lab, [`${REPO}test/integration/connector.mjs`, JSON.stringify(spec), ...huge])));
      await Promise.all(hostile.map((h) => h.exited));
      const incident = await w.waitFor((l) => l.type === "incident" && (l.processes as Proc[]).some((p) => p.pid === hostile[0]?.pid), 20_000);
      const line = JSON.stringify(incident);
      assert.ok(line.length < 512 * 1024, `the incident line is bounded (${line.length} bytes)`);
      const procs = (incident.processes as Proc[]).filter((p) => hostile.some((h) => h.pid === p.pid));
      assert.equal(procs.length, 40);
      for (const p of procs) {
        assert.ok(Buffer.byteLength((p.cmdline ?? []).join("\0")) <= 4096, `pid ${p.pid}: command line capped`);
        assert.deepEqual(p.truncated, ["cmdline"], `pid ${p.pid}: marked truncated`);
        assert.equal(p.cmdline?.[1], `${REPO}test/integration/connector.mjs`, "the start of the command line is kept");
      }
      const hwm = Number(/VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${w.child.pid}/status`, "utf8"))?.[1]);
      assert.ok(hwm < 200 * 1024, `peak RSS ${Math.round(hwm / 1024)} MB < 200 MB`);
    } finally {
      await w.stop();
    }
    const store = IncidentStore.open({ path: w.db, readonly: true });
    try {
      const all = store.list();
      assert.ok(
        all.some((i) => i.report.processes.some((p) => p.name === "ho-older")),
        "the older incident survived retention",
      );
    } finally {
      store.close();
    }
  });

  test("with the metrics port flooded by idle connections a culprit is still named in full", async () => {
    // A low hard limit, so that the flood would exhaust it without the bounds.
    const w = new WatchProcess(["--interval", "0", "--quiet", "0.5", "--no-store", "--metrics-port", "0", "--netns", lab.name], ["prlimit", "--nofile=200:400", ...TSX]);
    const flood: net.Socket[] = [];
    try {
      const start = await w.waitFor((l) => l.type === "start");
      const port = Number(/:(\d+)\/metrics$/.exec(String(start.metrics))?.[1]);
      assert.ok(port > 0, `the start record names the bound port: ${String(start.metrics)}`);
      flood.push(...(await openIdle(port, 600)));
      const fds = () => descriptorsOf(w.child.pid as number);
      assert.ok(fds() < 200, `watch holds ${fds()} descriptors with 600 clients connected`);
      await assertCulpritNamed(w, lab, "ho-flooded");
      for (const s of flood) s.destroy();
      const res = await fetch(`http://127.0.0.1:${port}/metrics`);
      assert.equal(res.status, 200, "metrics answer again once the flood is gone");
    } finally {
      for (const s of flood) s.destroy();
      await w.stop();
    }
  });

  test("a storm of short-lived processes never yields pid 0, and --comm names every attempt", async () => {
    const n = 1000;
    const w = new WatchProcess(["--interval", "0", "--no-store", "--comm", "bash"]);
    try {
      await w.waitFor((l) => l.type === "start");
      // Each subshell connects once to a refused port and exits at once.
      execFileSync("ip", ["netns", "exec", lab.name, "bash", "-c", `for i in $(seq ${n}); do (exec 3<>/dev/tcp/${LAB_ADDRESS}/${REFUSED_PORT}) 2>/dev/null & done; wait`]);
      await new Promise((r) => setTimeout(r, 0));
    } finally {
      // stop() drains what the kernel holds before the stop record.
      await w.stop();
    }
    const stop = w.lines.find((l) => l.type === "stop") as JsonLine;
    const procs = stop.processes as Proc[];
    assert.equal(procs.filter((p) => p.pid === 0).length, 0, "no process is pid 0");
    const attempts = procs.filter((p) => p.name === "bash").reduce((s, p) => s + p.attempts, 0);
    assert.equal(attempts, n, "every attempt of the storm passed --comm bash");
    assert.equal(new Set(procs.map((p) => p.pid)).size, procs.length, "no two processes merged under one pid");
  });

  test("watch stops with one line and exit 1 when its stdout reader goes away, even with --interval 0", async () => {
    const child = spawn(TSX[0] as string, [...TSX.slice(1), "watch", "--json", "--interval", "0", "--no-store"], { cwd: REPO, stdio: ["ignore", "pipe", "pipe"] });
    let stderr = "";
    child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
    const [first] = (await once(child.stdout, "data")) as [Buffer];
    assert.match(first.toString(), /"type":"start"/);
    child.stdout.destroy();
    await until(() => child.exitCode !== null || child.signalCode !== null, 10_000, "watch to notice its closed stdout");
    const code = child.exitCode;
    assert.equal(code, 1, stderr);
    assert.match(stderr, /^halfopen: Cannot write to standard output \(EPIPE\): the reader closed it; watch stopped \[HALFOPEN_OUTPUT_FAILED\]\n$/);
    const leftovers = spawnSync("sh", ["-c", `ls ${findTracefs()}/instances | grep -c "^halfopen-${child.pid}-" || true`], { encoding: "utf8" }).stdout.trim();
    assert.equal(leftovers, "0", "its tracefs instance is removed");
  });

  test("a second watch on the same database is refused with DB_IN_USE", async () => {
    const first = new WatchProcess(["--interval", "0"]);
    try {
      await first.waitFor((l) => l.type === "start");
      const second = spawnSync(TSX[0] as string, [...TSX.slice(1), "watch", "--json", "--interval", "0", "--db", first.db], { cwd: REPO, encoding: "utf8", timeout: 30_000 });
      assert.equal(second.status, 1, second.stderr);
      assert.match(second.stderr, new RegExp(`^halfopen: Cannot store incidents in ${first.db}: the watch with pid ${String(first.child.pid)} .* \\[HALFOPEN_DB_IN_USE\\]\\n$`));
    } finally {
      await first.stop();
    }
  });

  test("an idle watch sleeps on the kernel's buffers (native poll thread), not on a 10 ms timer", async () => {
    const w = new WatchProcess(["--interval", "0", "--no-store", "--netns", lab.name]);
    try {
      const start = await w.waitFor((l) => l.type === "start");
      assert.equal((start.sourceDetails as { wake: string }).wake, "data");
      // Woken on data: an attempt is still seen at once.
      const c = await runConnector(lab, { title: "ho-wake", host: LAB_ADDRESS, ports: droppedPorts(12, 300), holdMs: 400 });
      await w.waitFor((l) => l.type === "incident-open" && (l.trigger as { pid: number }).pid === c.pid, 5000);
      await c.exited;
    } finally {
      await w.stop();
    }
    await until(() => w.child.exitCode !== null, 5000, "watch to exit");
  });
});
