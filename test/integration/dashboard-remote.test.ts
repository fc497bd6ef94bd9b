/**
 * `watch --ui --ui-allow-remote`: refused over plain HTTP (the token and
 * every command line would cross the network in the clear), served over TLS
 * with a certificate the test makes with openssl, read-only unless
 * `--ui-actions`, on every address (`--ui-host 0.0.0.0`) with the machine's
 * own addresses accepted as Host. A loopback `--ui-host` other than
 * localhost (127.0.0.2, ::1) prints a URL that works. No root needed: the
 * dashboards show a recorded capture.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdtempSync } from "node:fs";
import { request } from "node:https";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { cli, WatchProcess } from "./watch-process.js";

const REPLAY = ["--replay", "test/fixtures/records/scan.jsonl", "--as-fast-as-possible", "--interval", "0"];
const opensslSkip = spawnSync("openssl", ["version"]).status === 0 ? undefined : "needs openssl (Debian package openssl)";
if (opensslSkip && process.env.CI) throw new Error(`dashboard-remote.test.ts cannot run under CI: ${opensslSkip}; .ci/run must provide it`);
if (opensslSkip) console.log(`# SKIP integration/dashboard-remote (TLS): ${opensslSkip}`);

async function urlOf(w: WatchProcess): Promise<URL> {
  await w.waitFor((l) => l.type === "start", 30_000);
  for (let i = 0; i < 200; i++) {
    const m = /dashboard at (\S+)/.exec(w.stderr);
    if (m) return new URL(m[1] as string);
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`no URL: ${w.stderr}`);
}

test("--ui-allow-remote over plain HTTP is refused; --ui-tls-cert needs --ui-tls-key; --ui-read-only and --ui-actions exclude each other", () => {
  for (const [args, pattern] of [
    [["--ui", "--ui-host", "0.0.0.0", "--ui-allow-remote"], /over plain HTTP: the token and everything the page shows .* give --ui-tls-cert FILE and --ui-tls-key FILE/],
    [["--ui", "--ui-host", "0.0.0.0"], /without --ui-allow-remote/],
    [["--ui", "--ui-tls-cert", "/nonexistent"], /--ui-tls-cert without --ui-tls-key/],
    [["--ui", "--ui-read-only", "--ui-actions"], /--ui-read-only and --ui-actions together/],
    [["--ui-read-only"], /without --ui/],
  ] as const) {
    const r = cli("watch", ...REPLAY, ...args);
    assert.equal(r.status, 2, `${args.join(" ")}: ${r.stderr}`);
    assert.match(r.stderr, pattern);
    assert.match(r.stderr, /\[HALFOPEN_BAD_USAGE\]\n$/);
  }
});

test("over TLS on every address: https, read-only by default, the machine's addresses accepted as Host, a forged one refused", { skip: opensslSkip }, async () => {
  const dir = mkdtempSync(join(tmpdir(), "halfopen-tls-"));
  const key = join(dir, "key.pem");
  const cert = join(dir, "cert.pem");
  const made = spawnSync("openssl", ["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", key, "-out", cert, "-days", "1", "-subj", "/CN=halfopen-test"], { encoding: "utf8" });
  assert.equal(made.status, 0, made.stderr);
  const w = new WatchProcess([...REPLAY, "--ui", "--ui-host", "0.0.0.0", "--ui-allow-remote", "--ui-tls-cert", cert, "--ui-tls-key", key]);
  try {
    const url = await urlOf(w);
    assert.equal(url.protocol, "https:");
    assert.match(w.stderr, /\(read-only\)/);
    const token = url.hash.slice("#token=".length);
    const get = (path: string, host: string, method = "GET", body?: string) =>
      new Promise<{ status: number; body: string }>((resolve, reject) => {
        const req = request({ host: "127.0.0.1", port: Number(url.port), path, method, rejectUnauthorized: false, headers: { host, authorization: `Bearer ${token}`, ...(body ? { "content-type": "application/json", origin: `https://${host}` } : {}) } }, (res) => {
          let text = "";
          res.on("data", (d: Buffer) => (text += d.toString()));
          res.on("end", () => resolve({ status: res.statusCode ?? 0, body: text }));
        });
        req.on("error", reject);
        req.end(body);
      });
    const own = `${url.hostname}:${url.port}`;
    assert.equal((await get("/api/snapshot", own)).status, 200, `the printed address ${own} is accepted`);
    const forged = await get("/api/snapshot", `rebound.example:${url.port}`);
    assert.equal(forged.status, 403);
    const kill = await get("/api/processes/4242/kill", own, "POST", JSON.stringify({ name: "x", startTime: 1 }));
    assert.equal(kill.status, 403);
    assert.match(kill.body, /HALFOPEN_UI_READ_ONLY/);
    const scan = await get("/api/scans", own, "POST", JSON.stringify({ targets: "127.0.0.1" }));
    assert.match(scan.body, /HALFOPEN_UI_READ_ONLY/);
  } finally {
    await w.stop();
  }
});

test("--ui-host 127.0.0.2 and ::1 print a URL that answers", async () => {
  for (const host of ["127.0.0.2", "::1"]) {
    const w = new WatchProcess([...REPLAY, "--ui", "--ui-host", host]);
    try {
      const url = await urlOf(w);
      assert.equal(url.hostname, host === "::1" ? "[::1]" : host);
      const res = await fetch(new URL("/api/snapshot", url), { headers: { authorization: `Bearer ${url.hash.slice("#token=".length)}` } });
      assert.equal(res.status, 200, `${host}: ${url.href}`);
    } finally {
      await w.stop();
    }
  }
});
