/**
 * Bench part `ui-memory` (issue 25, item 3): `watch --ui` through a storm of
 * 3,000 short-lived processes (each one connect to a refused port, in a
 * test-made network namespace) with ten event-stream clients that never
 * read. Reports the watch's peak RSS over the 20 s after the storm and the
 * bytes it held for the page, for this build and, as the anchor in the same
 * run, another build given with HALFOPEN_ANCHOR_CLI (a checkout's
 * dist/cli/main.js, e.g. the one before the fix). Root only (tracefs, netns).
 *
 *   sudo HALFOPEN_ANCHOR_CLI=/path/to/old/dist/cli/main.js npm run bench -- --only ui-memory
 *
 * Without HALFOPEN_ANCHOR_CLI the anchor is the bound the issue sets (300 MB).
 */
import { execFileSync, spawn } from "node:child_process";
import { once } from "node:events";
import { readFileSync } from "node:fs";
import net from "node:net";
import { fileURLToPath } from "node:url";
import { createLab, destroyLab, LAB_ADDRESS, REFUSED_PORT } from "../test/integration/lab.js";

const THIS = fileURLToPath(new URL("../dist/cli/main.js", import.meta.url));

async function run(cli: string, label: string): Promise<{ label: string; peakMb: number; afterMb: number }> {
  const lab = createLab("houimem");
  const child = spawn(process.execPath, [cli, "watch", "--json", "--interval", "0", "--no-store", "--ui", "--comm", "bash"], { stdio: ["ignore", "pipe", "pipe"] });
  let out = "";
  let err = "";
  child.stdout.on("data", (d: Buffer) => (out += d.toString()));
  child.stderr.on("data", (d: Buffer) => (err += d.toString()));
  const stalled: net.Socket[] = [];
  try {
    let port = 0;
    let token = "";
    for (let i = 0; i < 400 && !token; i++) {
      // This build says the URL on stderr (#token=); the anchor put it in the JSON start record (?token=).
      const m = /dashboard at http:\/\/127\.0\.0\.1:(\d+)\/#token=([\w-]+)/.exec(err) ?? /"ui":"http:\/\/127\.0\.0\.1:(\d+)\/\?token=([\w-]+)"/.exec(out);
      if (m) [port, token] = [Number(m[1]), m[2] as string];
      else await new Promise((r) => setTimeout(r, 50));
    }
    if (!token) throw new Error(`${label}: no dashboard URL: ${err}`);
    for (let i = 0; i < 10; i++) {
      const s = net.connect({ host: "127.0.0.1", port });
      s.on("error", () => {});
      await once(s, "connect");
      s.write(`GET /api/events HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nAuthorization: Bearer ${token}\r\n\r\n`);
      s.pause();
      stalled.push(s);
    }
    execFileSync("ip", ["netns", "exec", lab.name, "bash", "-c", `for i in $(seq 3000); do (exec 3<>/dev/tcp/${LAB_ADDRESS}/${REFUSED_PORT}) 2>/dev/null & done; wait`]);
    const rss = () => Number(/VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${child.pid}/status`, "utf8"))?.[1] ?? 0) / 1024;
    let peak = 0;
    const end = Date.now() + 20_000;
    while (Date.now() < end) {
      peak = Math.max(peak, rss());
      await new Promise((r) => setTimeout(r, 250));
    }
    return { label, peakMb: Math.round(peak), afterMb: Math.round(rss()) };
  } finally {
    for (const s of stalled) s.destroy();
    child.kill("SIGINT");
    await once(child, "exit").catch(() => undefined);
    destroyLab(lab);
  }
}

/** Two rounds, alternating with the anchor build when given; a markdown section for bench/RESULTS.md. */
export async function runUiMemoryBench(): Promise<{ markdown: string; json: unknown }> {
  const rows: { label: string; peakMb: number; afterMb: number }[] = [];
  const anchor = process.env.HALFOPEN_ANCHOR_CLI;
  for (let round = 1; round <= 2; round++) {
    rows.push(await run(THIS, "this build"));
    if (anchor) rows.push(await run(anchor, "anchor (before the fix)"));
  }
  const when = new Date().toISOString().slice(0, 16);
  const markdown = [
    `## ui-memory: \`watch --ui\` through a 3,000-process storm with ten clients that never read (${when}Z)`,
    "",
    "Peak RSS of `watch` over the 20 s after the storm (two rounds each, alternating). Goal: under 300 MB." + (anchor ? ` Anchor: ${anchor}, same run.` : ""),
    "",
    "| build | peak RSS (MB) | RSS after 20 s (MB) |",
    "|---|---:|---:|",
    ...rows.map((r) => `| ${r.label} | ${r.peakMb} | ${r.afterMb} |`),
    "",
  ].join("\n");
  return { markdown, json: rows };
}
