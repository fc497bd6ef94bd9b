/**
 * One cleanup on every exit path of `watch`: a sink that throws at start
 * (registered after watch's own, so the store and the metrics server are
 * already open) leaves no open database, no bound port and, with tracefs,
 * no tracefs instance. Each test first checks, inside the failing sink, that
 * those resources were really held (the positive control). Runs watch in
 * this process (runWatch), so /proc/self/fd tells what it left open.
 *
 * The replay case needs Linux only; the tracefs case needs root (it skips
 * elsewhere with the reason, and fails under CI instead).
 */
import assert from "node:assert/strict";
import { existsSync, mkdtempSync, readdirSync, readlinkSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, test } from "node:test";
import type { WatchOptions } from "../../src/cli/watch/command.js";
import { runWatch } from "../../src/cli/watch/run.js";
import type { Sink } from "../../src/cli/watch/sink.js";
import { findTracefs } from "../../src/platform/linux/tracefs-source.js";
import { freePort } from "../support/net.js";
import { REPO } from "./watch-process.js";

const BASE: WatchOptions = { limit: 10, quiet: 5, interval: 0, maxAge: 300, poll: 1, store: true, retainSize: 256, metricsHost: "127.0.0.1", metricsTopNames: 20, firstContactBy: "service", hookTimeout: 10, uiPort: 0, uiHost: "localhost", uiScans: true, per: "host", queueNum: 4226, queueMax: 65_536 };

/** What this process's file descriptors point at. */
function openFiles(): string[] {
  const out: string[] = [];
  for (const fd of readdirSync("/proc/self/fd")) {
    try {
      out.push(readlinkSync(`/proc/self/fd/${fd}`));
    } catch {
      // closed meanwhile (the readdir's own descriptor)
    }
  }
  return out;
}


/** True when something listens on 127.0.0.1:port (a connect succeeds). */
async function listening(port: number): Promise<boolean> {
  const { connect } = await import("node:net");
  return new Promise((resolve) => {
    const s = connect({ host: "127.0.0.1", port });
    s.once("connect", () => {
      s.destroy();
      resolve(true);
    });
    s.once("error", () => resolve(false));
  });
}

/** Our own tracefs instances (named halfopen-<pid>-<random>). */
function ownInstances(): string[] {
  const dir = `${findTracefs()}/instances`;
  return existsSync(dir) ? readdirSync(dir).filter((n) => n.startsWith(`halfopen-${process.pid}-`)) : [];
}

/** A sink that records what was held when it opened, then fails. */
function failingSink(held: { db?: boolean; port?: boolean; instances?: number }, db: string, port: number, tracefs: boolean): Sink {
  return {
    name: "fails-at-start",
    async open() {
      held.db = openFiles().includes(db);
      held.port = await listening(port);
      // The main instance (raw-sender tracing's two, -sockets and -sends, are checked to be gone below with it).
      if (tracefs) held.instances = ownInstances().filter((n) => /^halfopen-\d+-[0-9a-f]+$/.test(n)).length;
      throw new Error("this sink fails at start");
    },
  };
}

async function failAtStart(opts: Partial<WatchOptions>, tracefs: boolean): Promise<{ held: { db?: boolean; port?: boolean; instances?: number }; db: string; port: number }> {
  const db = join(mkdtempSync(join(tmpdir(), "halfopen-cleanup-")), "incidents.db");
  const port = await freePort();
  const held: { db?: boolean; port?: boolean; instances?: number } = {};
  await assert.rejects(runWatch({ ...BASE, ...opts, db, metricsPort: port }, { sinks: [failingSink(held, db, port, tracefs)] }), /this sink fails at start/);
  return { held, db, port };
}

describe("watch cleans up when a sink fails at start", { skip: process.platform === "linux" ? undefined : "reads /proc/self/fd (Linux)" }, () => {
  test("replay: the database is closed and the metrics port is free again", async () => {
    const { held, db, port } = await failAtStart({ replay: `${REPO}test/fixtures/records/scan.jsonl`, asFastAsPossible: true }, false);
    assert.deepEqual(held, { db: true, port: true }, "positive control: the store and the metrics server were open when the sink failed");
    assert.equal(openFiles().some((f) => f.startsWith(db)), false, "no descriptor on the database, its WAL or its shm");
    assert.equal(await listening(port), false, "nothing listens on the metrics port");
  });

  const rootSkip = process.geteuid?.() === 0 ? undefined : "needs root (tracefs)";
  if (rootSkip && process.env.CI) throw new Error(`watch-cleanup cannot run under CI: ${rootSkip}`);
  if (rootSkip) console.log(`# SKIP integration/watch-cleanup tracefs: ${rootSkip}`);
  test("tracefs: the tracefs instance is removed too", { skip: rootSkip }, async () => {
    const { held, db, port } = await failAtStart({ source: "tracefs" }, true);
    assert.deepEqual(held, { db: true, port: true, instances: 1 }, "positive control: the instance, the store and the metrics server were there");
    assert.deepEqual(ownInstances(), [], "no tracefs instance of this process is left");
    assert.equal(openFiles().some((f) => f.startsWith(db)), false, "no descriptor on the database");
    assert.equal(await listening(port), false, "nothing listens on the metrics port");
  });
});
