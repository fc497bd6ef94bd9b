/**
 * `halfopen ls` and the /proc polling source end to end, in a network
 * namespace the test creates (lab.ts): a child holding 30 half-open attempts
 * is listed with its pid, name and count; `watch --source procfs` raises the
 * incident for 50; without root, `watch` falls back to polling by itself.
 * Root only; under CI a missing prerequisite fails the run instead of skipping.
 */
import { after, before, describe, test } from "node:test";
import { once } from "node:events";
import assert from "node:assert/strict";
import { execFileSync, spawnSync } from "node:child_process";
import { chmodSync, cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { describeLab, createLab, destroyLab, labSkipReason, LAB_ADDRESS, spawnInLab, type Lab, droppedPorts } from "./lab.js";
import { CLI, REPO, runConnector, WatchProcess, type JsonLine } from "./watch-process.js";
import { parse as parseCsv } from "csv-parse/sync";
import { loadNative } from "../../src/platform/linux/native.js";

const skip = labSkipReason();

/** Holds one socket of each raw and packet kind (the fixture test/fixtures/linux/raw was read from the same set), until killed. */
const RAW_HOLDER = [
  "import socket, time",
  "k = [socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_TCP), socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP),",
  "     socket.socket(socket.AF_INET6, socket.SOCK_RAW, socket.IPPROTO_TCP), socket.socket(socket.AF_INET6, socket.SOCK_RAW, socket.IPPROTO_ICMPV6),",
  "     socket.socket(socket.AF_INET6, socket.SOCK_RAW, socket.IPPROTO_RAW), socket.socket(socket.AF_PACKET, socket.SOCK_DGRAM, socket.htons(0x0800)),",
  "     socket.socket(socket.AF_PACKET, socket.SOCK_RAW, 0)]",
  "print('ready', flush=True)",
  "time.sleep(60)",
].join("\n");


type LsProcess = { pid?: number; name: string; halfOpen: number; total: number; user?: string; remotes: string[]; maxRetransmits?: number };
type LsJson = { type: string; source: string; method?: string; hostHalfOpen: number; processes: LsProcess[]; warnings: string[] };

/** The native helper loads here (it must under CI: native.test.ts fails the run otherwise). */
const haveNative = loadNative() !== undefined;

function ls(args: string[], inLab?: Lab, env: NodeJS.ProcessEnv = {}): { status: number | null; stdout: string; stderr: string } {
  const argv = [process.execPath, "--import", "tsx", CLI, "ls", ...args];
  const options = { cwd: REPO, encoding: "utf8" as const, env: { ...process.env, ...env } };
  const r = inLab ? spawnSync("ip", ["netns", "exec", inLab.name, ...argv], options) : spawnSync(argv[0] as string, argv.slice(1), options);
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

describeLab("halfopen ls and the procfs source (netns lab)", { file: "integration/ls", prefix: "hols" }, (lab) => {
  test("a child holding 30 half-open attempts is listed with its pid, name and count 30, on the default path and from inside its namespace", async () => {
    const c = await runConnector(lab, { title: "ho-ls30", host: LAB_ADDRESS, ports: droppedPorts(30), holdMs: 8000 });
    try {
      // Default path: auto-selected reader, run from the host namespace (sees the lab through /proc/PID/net).
      const d = ls(["--json"]);
      assert.equal(d.status, 0, d.stderr);
      const def = JSON.parse(d.stdout) as LsJson;
      assert.equal(def.source, "procfs");
      const mine = def.processes.find((p) => p.pid === c.pid);
      assert.ok(mine, `pid ${c.pid} listed: ${d.stdout}`);
      assert.equal(mine.name, "ho-ls30");
      assert.equal(mine.halfOpen, 30);
      assert.equal(mine.user, "root");
      assert.ok(mine.remotes.every((r) => r.startsWith(`${LAB_ADDRESS}:`)));
      // Largest count first (the host may be busy with other processes' connects: the order, not the first place).
      const counts = def.processes.map((p) => p.halfOpen);
      assert.deepEqual(counts, [...counts].sort((a, b) => b - a), "the largest count comes first");
      // The lab is another namespace: read by joining it (sock_diag) when the helper is built.
      assert.equal(def.method, haveNative ? "sock_diag" : "proc_net_tcp");

      // Without the helper: /proc/net/tcp and the fd walk in Node, the same answer.
      const t0 = JSON.parse(ls(["--json"], undefined, { HALFOPEN_NATIVE: "0" }).stdout) as LsJson;
      assert.equal(t0.method, "proc_net_tcp");
      assert.deepEqual(
        t0.processes.filter((p) => p.pid === c.pid).map((p) => [p.name, p.halfOpen, p.user]),
        [["ho-ls30", 30, "root"]],
      );

      // Polling path forced, run inside the lab namespace.
      const f = ls(["--source", "procfs", "--json"], lab);
      assert.equal(f.status, 0, f.stderr);
      const forced = JSON.parse(f.stdout) as LsJson;
      assert.deepEqual(
        forced.processes.filter((p) => p.pid === c.pid).map((p) => [p.name, p.halfOpen]),
        [["ho-ls30", 30]],
      );

      // Text and CSV show the same.
      const t = ls(["--width", "80"]);
      assert.match(t.stdout, new RegExp(`^\\s+${c.pid} root\\s+ho-ls30\\s+30 `, "m"));
      for (const line of t.stdout.split("\n")) assert.ok(line.length <= 80, `fits 80 columns: ${line}`);
      // Through a pipe (COLUMNS=200 or not) a command line of over 200 characters arrives whole.
      const seeds = Array.from({ length: 12 }, (_, i) => `--seed=https://site-${i}.example/`);
      const code = `import socket, time\nk = []\nfor p in (${droppedPorts(3, 500).join(", ")}):\n  s = socket.socket(); s.setblocking(False); s.connect_ex(("${LAB_ADDRESS}", p)); k.append(s)\nprint("ready", flush=True)\ntime.sleep(30)`;
      const holder = spawnInLab(lab, "python3", ["-c", code, ...seeds]);
      try {
        await once(holder.stdout!, "data");
        const cmdline = readFileSync(`/proc/${holder.pid}/cmdline`, "utf8").split("\0").filter(Boolean).join(" ");
        assert.ok(cmdline.length > 200, cmdline);
        const piped = ls(["--pid", String(holder.pid)], undefined, { COLUMNS: "200" });
        assert.ok(piped.stdout.includes(`cmd: ${cmdline.replace(/\n/g, "\\x0a")}`), piped.stdout);
        assert.doesNotMatch(piped.stdout, /…/, "nothing cut in a pipe");
      } finally {
        holder.kill();
      }
      const csv = parseCsv(ls(["--csv", "--pid", String(c.pid)]).stdout, { columns: true }) as Record<string, string>[];
      assert.deepEqual(csv.map((r) => [r.pid, r.name, r.half_open]), [[String(c.pid), "ho-ls30", "30"]]);

      // --all-states adds the other sockets.
      const all = JSON.parse(ls(["--json", "--all-states", "--pid", String(c.pid)]).stdout) as LsJson;
      assert.equal(all.processes[0]?.halfOpen, 30);
    } finally {
      await c.done;
    }
  });

  test("watch --source procfs raises the incident for 50 and names the process", async () => {
    // Only the lab's namespace: the host may be busy with other connects.
    const w = new WatchProcess(["--source", "procfs", "--poll", "0.2", "--interval", "0", "--quiet", "0.5", "--netns", lab.name]);
    try {
      const start = await w.waitFor((l) => l.type === "start");
      assert.equal(start.source, "procfs");
      await w.waitFor((l) => l.type === "warning" && /between two polls is not seen/.test(String(l.message)));
      const c = await runConnector(lab, { title: "ho-poll50", host: LAB_ADDRESS, ports: droppedPorts(50, 100), holdMs: 1500 });
      await c.done;
      const incident = await w.waitFor((l) => l.type === "incident");
      const procs = incident.processes as { pid: number; name: string; attempts: number; exited: boolean }[];
      assert.deepEqual(procs.map((p) => [p.pid, p.name, p.attempts]), [[c.pid, "ho-poll50", 50]]);
      assert.equal(incident.peak, 50);
    } finally {
      await w.stop();
    }
    assert.equal(w.incidents().length, 1);
  });
});

describe("halfopen watch without root falls back to /proc polling", { skip: skip ?? (process.geteuid?.() !== 0 ? "needs root to drop to an unprivileged user" : undefined) }, () => {
  let lab: Lab;
  let dir: string;
  before(() => {
    lab = createLab("hononroot");
    // The clone may live where uid 65534 cannot read (/root): run a fresh build from a world-readable copy.
    dir = mkdtempSync("/tmp/halfopen-nonroot-");
    execFileSync(process.execPath, [`${REPO}node_modules/typescript/bin/tsc`, "-p", `${REPO}tsconfig.build.json`, "--outDir", `${dir}/dist`]);
    // Every production dependency (better-sqlite3's native build included), as npm resolves them.
    const prod = execFileSync("npm", ["ls", "--omit=dev", "--all", "--parseable"], { cwd: REPO, encoding: "utf8" }).split("\n").filter((p) => p.includes("/node_modules/"));
    for (const p of prod) cpSync(p, `${dir}/node_modules/${p.slice(p.lastIndexOf("node_modules/") + "node_modules/".length)}`, { recursive: true });
    mkdirSync(`${dir}/state`, { mode: 0o777 });
    cpSync(`${REPO}package.json`, `${dir}/package.json`);
    cpSync(`${REPO}test/integration/connector.mjs`, `${dir}/connector.mjs`);
    if (haveNative) cpSync(`${REPO}build/Release/halfopen_native.node`, `${dir}/build/Release/halfopen_native.node`);
    execFileSync("chmod", ["-R", "a+rX", dir]);
    chmodSync(`${dir}/state`, 0o777); // where the unprivileged watch keeps its incident database
  });
  after(() => {
    destroyLab(lab);
    rmSync(dir, { recursive: true, force: true });
  });

  const asNobody = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"];

  test("processes that can send SYNs without connect() are listed with their raw and packet sockets: nmap -sS, and a program holding one of each kind; raw ICMP is not", async () => {
    // nmap -sS at 20 packets a second to dropped ports: it keeps its raw and packet sockets while this test reads.
    const nmap = spawnInLab(lab, "nmap", ["-sS", "-Pn", "-n", "--max-rate", "20", "-p", "20000-20400", LAB_ADDRESS]);
    const holder = spawnInLab(lab, "python3", ["-c", RAW_HOLDER]);
    try {
      const [ready] = (await once(holder.stdout as NodeJS.ReadableStream, "data")) as [Buffer];
      assert.match(ready.toString(), /ready/);
      let senders: { pid: number; name: string; sockets: { label: string; kind: string }[] }[] = [];
      for (let i = 0; i < 100; i++) {
        const r = ls(["--json", "--netns", lab.name]);
        assert.equal(r.status, 0, r.stderr);
        senders = (JSON.parse(r.stdout) as { rawSenders?: typeof senders }).rawSenders ?? [];
        if (senders.some((s) => s.pid === nmap.pid) && senders.some((s) => s.pid === holder.pid)) break;
        await new Promise((res) => setTimeout(res, 100));
      }
      const labels = (pid: number | undefined) => senders.find((s) => s.pid === pid)?.sockets.map((k) => k.label).sort();
      assert.deepEqual(labels(nmap.pid), ["packet raw (all protocols)", "raw ip (IPPROTO_RAW)"], "nmap -sS: its raw IP socket and libpcap's packet socket");
      assert.deepEqual(labels(holder.pid), ["packet dgram (ipv4)", "packet raw (send only)", "raw tcp", "raw6 ip (IPPROTO_RAW)", "raw6 tcp"], "raw ICMP and ICMPv6 cannot send TCP: not listed");
      assert.equal(senders.find((s) => s.pid === nmap.pid)?.name, "nmap");
      const text = ls(["--netns", lab.name, "--width", "80"]);
      assert.match(text.stdout, /can send SYNs without connect\(\)/);
      assert.match(text.stdout, new RegExp(`\\n\\s+${nmap.pid} root\\s+nmap\\s+`));
      for (const line of text.stdout.split("\n")) assert.ok(line.length <= 80, `fits 80 columns: ${line}`);
    } finally {
      nmap.kill("SIGKILL");
      holder.kill("SIGKILL");
    }
  });

  test("forced tracefs exits 3 and says what is missing", () => {
    const r = spawnSync(asNobody[0] as string, [...asNobody.slice(1), process.execPath, `${dir}/dist/cli/main.js`, "watch", "--source", "tracefs"], { encoding: "utf8" });
    assert.equal(r.status, 3, r.stderr);
    assert.match(r.stderr, /needs root/);
    assert.match(r.stderr, /HALFOPEN_NEEDS_PRIVILEGES/);
    assert.doesNotMatch(r.stderr, /\n\s+at /, "no stack trace");
  });

  test("ls without root names a culprit of the same user in another namespace (joining it is refused: /proc/net/tcp there)", async () => {
    const spec = JSON.stringify({ title: "ho-nobody-ls", host: LAB_ADDRESS, ports: droppedPorts(30, 500), holdMs: 6000 });
    const child = spawnInLab(lab, asNobody[0] as string, [...asNobody.slice(1), process.execPath, `${dir}/connector.mjs`, spec]);
    let out = "";
    child.stdout?.on("data", (d: Buffer) => (out += d.toString()));
    try {
      for (let i = 0; i < 100 && !/"pid":\d+/.test(out); i++) await new Promise((r) => setTimeout(r, 50));
      const pid = Number(/"pid":(\d+)/.exec(out)?.[1]);
      const r = spawnSync(asNobody[0] as string, [...asNobody.slice(1), process.execPath, `${dir}/dist/cli/main.js`, "ls", "--json"], { encoding: "utf8" });
      assert.equal(r.status, 0, r.stderr);
      const j = JSON.parse(r.stdout) as LsJson;
      assert.deepEqual(j.processes.filter((p) => p.pid === pid).map((p) => [p.name, p.halfOpen]), [["ho-nobody-ls", 30]]);
      // Our own namespace through sock_diag; the lab's, which uid 65534 may not join, through its /proc/PID/net/tcp.
      assert.equal(j.method, haveNative ? "sock_diag+proc_net_tcp" : "proc_net_tcp");
    } finally {
      child.kill("SIGTERM");
      await once(child, "exit");
    }
  });

  test("default watch says why it polls, and still names a culprit of the same user", async () => {
    const w = new WatchProcess(["--poll", "0.2", "--interval", "0", "--quiet", "0.5"], [...asNobody, process.execPath, `${dir}/dist/cli/main.js`], { HALFOPEN_DB: `${dir}/state/incidents.db` });
    try {
      const start = await w.waitFor((l) => l.type === "start");
      assert.equal(start.source, "procfs");
      await w.waitFor((l) => l.type === "warning" && /tracefs cannot be used \(Cannot open tracefs as uid 65534.*falling back to \/proc polling/.test(String(l.message)));
      // The culprit runs as the same unprivileged user, in the lab namespace.
      const spec = JSON.stringify({ title: "ho-nobody", host: LAB_ADDRESS, ports: droppedPorts(40, 300), holdMs: 1500 });
      const child = spawnInLab(lab, asNobody[0] as string, [...asNobody.slice(1), process.execPath, `${dir}/connector.mjs`, spec]);
      let out = "";
      child.stdout?.on("data", (d: Buffer) => (out += d.toString()));
      const incident: JsonLine = await w.waitFor((l) => l.type === "incident");
      const pid = Number(/"pid":(\d+)/.exec(out)?.[1]);
      const procs = incident.processes as { pid: number; name: string; attempts: number; uid: number }[];
      assert.deepEqual(procs.map((p) => [p.pid, p.name, p.attempts, p.uid]), [[pid, "ho-nobody", 40, 65534]]);
      assert.equal(incident.stored, true, "an unprivileged watch stores its incidents too");
    } finally {
      await w.stop();
    }
  });
});
