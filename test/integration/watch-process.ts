/**
 * Runs `halfopen watch --json` as a child process (through tsx, from the
 * sources) and collects its JSON lines for integration tests.
 */
import assert from "node:assert/strict";
import { spawn, spawnSync, type ChildProcess, type SpawnSyncReturns } from "node:child_process";
import { once } from "node:events";
import { mkdtempSync, readdirSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import { spawnInLab, type Lab } from "./lab.js";

export const REPO = fileURLToPath(new URL("../../", import.meta.url));
export const CLI = `${REPO}src/cli/main.ts`;

export type JsonLine = Record<string, unknown> & { type: string };

/** Run the CLI from this checkout's sources (tsx) and wait for it. */
export function cli(...args: string[]): SpawnSyncReturns<string> {
  return spawnSync(process.execPath, ["--import", "tsx", CLI, ...args], { cwd: REPO, encoding: "utf8", timeout: 60_000 });
}

export class WatchProcess {
  readonly child: ChildProcess;
  readonly lines: JsonLine[] = [];
  stderr = "";
  readonly #waiters: { pred: (l: JsonLine) => boolean; resolve: (l: JsonLine) => void }[] = [];

  /** The incident database this watch writes (a fresh temporary one unless HALFOPEN_DB is given). */
  readonly db: string;

  /** `command` runs the CLI; default: this checkout's sources through tsx. */
  constructor(args: string[], command: string[] = [process.execPath, "--import", "tsx", CLI], env: NodeJS.ProcessEnv = {}) {
    this.db = env.HALFOPEN_DB ?? join(mkdtempSync(join(tmpdir(), "halfopen-test-")), "incidents.db");
    this.child = spawn(command[0] as string, [...command.slice(1), "watch", "--json", ...args], {
      cwd: REPO,
      stdio: ["ignore", "pipe", "pipe"],
      env: { ...process.env, ...env, HALFOPEN_DB: this.db },
    });
    this.child.stderr?.on("data", (d: Buffer) => {
      this.stderr += d.toString();
    });
    createInterface({ input: this.child.stdout! }).on("line", (text) => {
      const line = JSON.parse(text) as JsonLine;
      this.lines.push(line);
      for (const w of [...this.#waiters]) {
        if (w.pred(line)) {
          this.#waiters.splice(this.#waiters.indexOf(w), 1);
          w.resolve(line);
        }
      }
    });
  }

  /** Resolves with the first line (past or future) that matches. */
  waitFor(pred: (l: JsonLine) => boolean, timeoutMs = 15_000): Promise<JsonLine> {
    const seen = this.lines.find(pred);
    if (seen) return Promise.resolve(seen);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`Timed out waiting for a watch line; stderr: ${this.stderr}; lines: ${this.lines.map((l) => l.type).join(",")}`)), timeoutMs);
      this.#waiters.push({
        pred,
        resolve: (l) => {
          clearTimeout(timer);
          resolve(l);
        },
      });
    });
  }

  /** SIGINT (or the given signal), then wait for exit. */
  async stop(signal: NodeJS.Signals = "SIGINT"): Promise<number | null> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return this.child.exitCode;
    const exited = once(this.child, "exit");
    this.child.kill(signal);
    const [code] = (await exited) as [number | null];
    return code;
  }

  async exitCode(): Promise<number | null> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return this.child.exitCode;
    const [code] = (await once(this.child, "exit")) as [number | null];
    return code;
  }

  incidents(type: "incident" | "incident-open" = "incident"): JsonLine[] {
    return this.lines.filter((l) => l.type === type);
  }
}

export interface ConnectorSpec {
  title: string;
  host: string;
  ports: number[];
  holdMs: number;
  listen?: number;
  /** Issue the connects in chunks every 5 ms over this long (a stream), not all at once. */
  spreadMs?: number;
}

export interface Connector {
  pid: number;
  done: Promise<Record<string, string>>;
  exited: Promise<unknown>;
}

/**
 * Start a workload script in the lab. It prints {"ready":true,"pid"} once its
 * connects are issued, then one {"done":true,...} line; resolves at "ready".
 */
export async function runLabWorkload<Done>(lab: Lab, args: string[], options: { cgroup?: string } = {}): Promise<{ pid: number; done: Promise<Done>; exited: Promise<unknown> }> {
  // In a cgroup: a shell moves itself there ($0 is the cgroup directory, never part of the script), then becomes the workload.
  const child = options.cgroup
    ? spawn("sh", ["-c", 'echo $$ > "$0/cgroup.procs" && exec "$@"', options.cgroup, "ip", "netns", "exec", lab.name, process.execPath, ...args], { cwd: REPO, stdio: ["ignore", "pipe", "pipe"] })
    : spawnInLab(lab, process.execPath, args, { cwd: REPO });
  let stderr = "";
  child.stderr?.on("data", (d: Buffer) => (stderr += d.toString()));
  const exited = once(child, "exit");
  let resolveDone: (d: Done) => void = () => {};
  const done = new Promise<Done>((resolve, reject) => {
    resolveDone = resolve;
    void exited.then(([code]) => setTimeout(() => reject(new Error(`workload exited ${String(code)} before "done": ${stderr}`)), 100));
  });
  done.catch(() => {}); // callers that only await "ready" must not see an unhandled rejection
  const pid = await new Promise<number>((resolve, reject) => {
    child.once("error", reject);
    void exited.then(() => reject(new Error(`workload exited before "ready": ${stderr}`)));
    createInterface({ input: child.stdout! }).on("line", (text) => {
      const msg = JSON.parse(text) as { ready?: boolean; pid?: number; done?: boolean };
      if (msg.ready) resolve(msg.pid as number);
      if (msg.done) resolveDone(msg as Done);
    });
  });
  return { pid, done, exited };
}

/** Start the connector workload in the lab (in `cgroup`, a cgroup v2 directory, when given); resolves once its connects are issued. */
export async function runConnector(lab: Lab, spec: ConnectorSpec, options: { cgroup?: string } = {}): Promise<Connector> {
  const w = await runLabWorkload<{ results?: Record<string, string> }>(lab, [`${REPO}test/integration/connector.mjs`, JSON.stringify(spec)], options);
  const done = w.done.then((d) => d.results ?? {});
  done.catch(() => {}); // a test that kills the connector never awaits "done"
  return { pid: w.pid, done, exited: w.exited };
}

/** `n` idle TCP connections to 127.0.0.1:port, once they connected (or failed). */
export async function openIdle(port: number, n: number): Promise<import("node:net").Socket[]> {
  const { connect } = await import("node:net");
  const flood = Array.from({ length: n }, () => {
    const s = connect({ host: "127.0.0.1", port });
    s.on("error", () => {});
    return s;
  });
  await Promise.all(flood.map((s) => once(s, "connect").catch(() => undefined)));
  return flood;
}

/** Descriptors a process holds now. */
export function descriptorsOf(pid: number): number {
  return readdirSync(`/proc/${pid}/fd`).length;
}

/** A lab process half-opens 20 attempts and exits; the incident names it in full (exe, command line, user). */
export async function assertCulpritNamed(w: WatchProcess, lab: Lab, title: string): Promise<void> {
  const { LAB_ADDRESS, droppedPorts } = await import("./lab.js");
  const c = await runConnector(lab, { title, host: LAB_ADDRESS, ports: droppedPorts(20, 200), holdMs: 600 });
  await c.exited;
  type Proc = { pid: number; exe?: string; cmdline?: string[]; user?: string };
  const incident = await w.waitFor((l) => l.type === "incident" && (l.processes as Proc[]).some((p) => p.pid === c.pid));
  const named = (incident.processes as Proc[]).find((p) => p.pid === c.pid) as Proc;
  assert.equal(named.exe, process.execPath, "exe read");
  assert.ok(named.cmdline && named.cmdline.length > 0, "command line read");
  assert.equal(named.user, "root", "user read");
}
