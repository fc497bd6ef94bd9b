/**
 * The dashboard sink's "end" action over a real loopback port: it ends only
 * a process this watch saw connect, named as the watch saw it, and only if
 * it is still that process. The victims are this test's own children (no
 * root needed); Linux only (process identity from /proc).
 */
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { after, describe, it } from "node:test";
import { HalfOpenMonitor } from "../../core/monitor.js";
import { ScanVerdictDetector } from "../../core/scan-detector.js";
import { readIdentity } from "../../platform/process-identity.js";
import { UiSink } from "./ui-sink.js";

const skip = process.platform !== "linux" ? "needs Linux (/proc)" : undefined;
if (skip) console.log(`# SKIP ui-sink: ${skip}`);

function child() {
  const c = spawn("sleep", ["60"], { stdio: "ignore" });
  return c;
}

async function identityOf(pid: number) {
  for (let i = 0; i < 100; i++) {
    const id = readIdentity(pid);
    if (id?.name === "sleep" && id.startTime !== undefined) return id as { pid: number; name: string; startTime: number };
    await new Promise((r) => setTimeout(r, 10));
  }
  throw new Error(`no identity for ${pid}`);
}

describe("dashboard sink: ending a process", { skip }, () => {
  const children: ReturnType<typeof child>[] = [];
  after(() => {
    for (const c of children) c.kill("SIGKILL");
  });

  async function openSink(options: { readOnly?: boolean } = {}) {
    const monitor = new HalfOpenMonitor({ limit: 10 });
    const said: string[] = [];
    const sink = new UiSink({ host: "localhost", port: 0, scans: false, monitor, verdicts: new ScanVerdictDetector(), wallOffsetMs: 0, replay: false, db: () => undefined, publish: () => {}, say: (l) => said.push(l), ...options });
    const facts = await sink.open();
    const url = new URL(said[0]?.replace(/^halfopen: dashboard at /, "").replace(/ \(read-only\)$/, "") ?? "");
    const token = /^#token=(.+)$/.exec(url.hash)?.[1] ?? "";
    return { sink, facts, url, token, said };
  }

  it("refuses a pid it never saw, a wrong name, a wrong start time; ends the one it saw; the token is only in the printed URL", async () => {
    const { sink, facts, url, token } = await openSink();
    try {
      assert.equal(facts.ui, `http://127.0.0.1:${url.port}/`, "the start record carries no token");
      assert.ok(token.length >= 20);
      const seen = child();
      const unseen = child();
      children.push(seen, unseen);
      const a = await identityOf(seen.pid as number);
      const b = await identityOf(unseen.pid as number);
      sink.events([{ type: "connect", time: 1, sock: "1", pid: a.pid, family: 4, src: { address: "127.0.0.1", port: 40000 }, dst: { address: "127.0.0.1", port: 9 }, process: { pid: a.pid, name: "sleep", startTime: a.startTime } }]);
      const kill = (pid: number, body: object) =>
        fetch(`http://127.0.0.1:${url.port}/api/processes/${pid}/kill`, { method: "POST", headers: { authorization: `Bearer ${token}`, "content-type": "application/json", origin: `http://127.0.0.1:${url.port}` }, body: JSON.stringify(body) });
      const refused = async (pid: number, body: object, why: RegExp) => {
        const r = await kill(pid, body);
        const b2 = (await r.json()) as { error: { code: string; message: string } };
        assert.equal(r.status, 409, JSON.stringify(b2));
        assert.equal(b2.error.code, "HALFOPEN_REFUSED");
        assert.match(b2.error.message, why);
      };
      await refused(b.pid, { name: "sleep", startTime: b.startTime }, /never saw it/);
      await refused(a.pid, { name: "bash", startTime: a.startTime }, /saw it as "sleep", not "bash"/);
      await refused(a.pid, { name: "sleep", startTime: a.startTime + 1 }, /never saw it/);
      assert.ok(readIdentity(b.pid) && readIdentity(a.pid), "both still run");
      const ok = await kill(a.pid, { name: "sleep", startTime: a.startTime });
      assert.equal(ok.status, 200);
      assert.equal(((await ok.json()) as { result: string }).result, "exited");
    } finally {
      sink.close();
    }
  });

  it("read-only: the page ends nothing", async () => {
    const { sink, url, token, said } = await openSink({ readOnly: true });
    try {
      assert.match(said[0] ?? "", /\(read-only\)$/);
      const c = child();
      children.push(c);
      const a = await identityOf(c.pid as number);
      sink.events([{ type: "connect", time: 1, sock: "1", pid: a.pid, family: 4, src: { address: "127.0.0.1", port: 40000 }, dst: { address: "127.0.0.1", port: 9 }, process: { pid: a.pid, name: "sleep", startTime: a.startTime } }]);
      const r = await fetch(`http://127.0.0.1:${url.port}/api/processes/${a.pid}/kill`, { method: "POST", headers: { authorization: `Bearer ${token}`, "content-type": "application/json", origin: `http://127.0.0.1:${url.port}` }, body: JSON.stringify({ name: "sleep", startTime: a.startTime }) });
      assert.equal(r.status, 403);
      assert.ok(readIdentity(a.pid));
    } finally {
      sink.close();
    }
  });
});
