/**
 * `halfopen watch --ui` against a hostile local user (issue 25), in a network
 * namespace the test creates: a flood of idle connections to the dashboard's
 * port must not blind the watch, and a storm of 3,000 short-lived processes
 * with ten event-stream clients that never read must not grow the watch's
 * memory without bound. Root only (tracefs, netns); under CI a missing
 * prerequisite fails instead of skipping.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { once } from "node:events";
import { readFileSync } from "node:fs";
import net from "node:net";
import { describeLab, LAB_ADDRESS, REFUSED_PORT } from "./lab.js";
import { assertCulpritNamed, CLI, descriptorsOf, openIdle, WatchProcess } from "./watch-process.js";

type Proc = { pid: number; name: string; attempts: number; exe?: string; cmdline?: string[]; user?: string };

const TSX = [process.execPath, "--import", "tsx", CLI];

/** The dashboard's port and token, from the line on standard error (the only place the token is printed). */
async function dashboard(w: WatchProcess): Promise<{ port: number; token: string }> {
  await w.waitFor((l) => l.type === "start", 30_000);
  for (let i = 0; i < 200; i++) {
    const m = /dashboard at http:\/\/127\.0\.0\.1:(\d+)\/#token=([\w-]+)\n/.exec(w.stderr);
    if (m) return { port: Number(m[1]), token: m[2] as string };
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`no dashboard URL on stderr: ${w.stderr}`);
}

const rssMb = (pid: number) => Number(/VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, "utf8"))?.[1] ?? 0) / 1024;

describeLab("halfopen watch --ui hardening (tracefs, netns lab)", { file: "integration/dashboard-hardening", prefix: "houih" }, (lab) => {
  test("with the dashboard's port flooded by idle connections, the watch stays bounded and a culprit is still named in full", async () => {
    // A low hard limit, so that the flood would use up every descriptor without the bounds.
    // Only the lab's namespace: the host may be busy with other connects (its own incident would hold this one's).
    const w = new WatchProcess(["--interval", "0", "--quiet", "0.5", "--no-store", "--ui", "--netns", lab.name], ["prlimit", "--nofile=300:400", ...TSX]);
    const flood: net.Socket[] = [];
    try {
      const { port, token } = await dashboard(w);
      flood.push(...(await openIdle(port, 1000)));
      const fds = () => descriptorsOf(w.child.pid as number);
      assert.ok(fds() < 250, `watch holds ${fds()} descriptors with 1,000 clients connected`);
      await assertCulpritNamed(w, lab, "ho-uiflood");
      assert.equal(w.lines.filter((l) => l.type === "blind").length, 0, "never blind");
      for (const s of flood) s.destroy();
      const res = await fetch(`http://127.0.0.1:${port}/api/snapshot`, { headers: { authorization: `Bearer ${token}` } });
      assert.equal(res.status, 200, "the dashboard answers again once the flood is gone");
    } finally {
      for (const s of flood) s.destroy();
      await w.stop();
    }
  });

  test("a storm of 3,000 processes with ten event-stream clients that never read: RSS stays under 300 MB", async () => {
    const w = new WatchProcess(["--interval", "0", "--no-store", "--ui", "--comm", "bash"]);
    const stalled: net.Socket[] = [];
    try {
      const { port, token } = await dashboard(w);
      for (let i = 0; i < 10; i++) {
        const s = net.connect({ host: "127.0.0.1", port });
        s.on("error", () => {});
        await once(s, "connect");
        s.write(`GET /api/events HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nAuthorization: Bearer ${token}\r\n\r\n`);
        s.pause(); // never reads
        stalled.push(s);
      }
      // 3,000 subshells, each one connect to a refused port, in the lab's namespace.
      execFileSync("ip", ["netns", "exec", lab.name, "bash", "-c", `for i in $(seq 3000); do (exec 3<>/dev/tcp/${LAB_ADDRESS}/${REFUSED_PORT}) 2>/dev/null & done; wait`]);
      const pid = w.child.pid as number;
      let peak = 0;
      // Watch it for 20 s: the unbounded build grew by tens of MB a second here.
      const end = Date.now() + 20_000;
      while (Date.now() < end) {
        peak = Math.max(peak, rssMb(pid));
        await new Promise((r) => setTimeout(r, 250));
      }
      assert.ok(peak < 300, `peak RSS ${peak.toFixed(0)} MB`);
      const snap = (await (await fetch(`http://127.0.0.1:${port}/api/snapshot`, { headers: { authorization: `Bearer ${token}` } })).json()) as { rows: unknown[] };
      assert.ok(snap.rows.length <= 500, `the table keeps at most 500 rows (${snap.rows.length})`);
      await w.stop();
      const procs = (w.lines.find((l) => l.type === "stop")?.processes ?? []) as Proc[];
      const attempts = procs.filter((p) => p.name === "bash").reduce((n, p) => n + p.attempts, 0);
      assert.ok(attempts >= 3000, `the watch itself still counted every attempt of the storm (${attempts})`);
    } finally {
      for (const s of stalled) s.destroy();
      await w.stop();
    }
  });
});
