/**
 * The operations kit: deploy/halfopen.service passes `systemd-analyze
 * verify` (with ExecStart pointed at this checkout's build), and the watch
 * command line it runs is one watch accepts (run for half a second, its
 * files moved to a temporary directory). Under CI a missing systemd-analyze
 * fails.
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";
import { fileURLToPath } from "node:url";

const REPO = fileURLToPath(new URL("../", import.meta.url));
const UNIT = readFileSync(join(REPO, "deploy/halfopen.service"), "utf8");
const dir = mkdtempSync(join(tmpdir(), "halfopen-deploy-"));
after(() => rmSync(dir, { recursive: true, force: true }));

const analyze = spawnSync("systemd-analyze", ["--version"]).status === 0;
const noAnalyze = analyze ? undefined : "needs systemd-analyze (Debian package systemd)";
if (noAnalyze && process.env.CI) throw new Error(`deploy test cannot run under CI: ${noAnalyze}; .ci/run must install it`);
if (noAnalyze) console.log(`# SKIP deploy unit check: ${noAnalyze}`);

/** ExecStart's arguments after the program. */
function execArgs(): string[] {
  const line = /^ExecStart=(\S+) (.*)$/m.exec(UNIT);
  assert.ok(line, "the unit has an ExecStart");
  assert.equal(line[1], "/usr/local/bin/halfopen");
  return (line[2] as string).split(" ");
}

test("the systemd unit verifies (systemd-analyze verify), hardened, with the state and log directories watch uses", { skip: noAnalyze }, () => {
  const unit = join(dir, "halfopen.service");
  writeFileSync(unit, UNIT.replace("/usr/local/bin/halfopen", `${process.execPath} ${join(REPO, "dist/cli/main.js")}`));
  const r = spawnSync("systemd-analyze", ["verify", unit], { encoding: "utf8" });
  assert.equal(r.status, 0, `${r.stdout}${r.stderr}`);
  assert.equal(`${r.stdout}${r.stderr}`.trim(), "", "no warnings");
  for (const line of ["NoNewPrivileges=yes", "ProtectSystem=strict", "StateDirectory=halfopen", "LogsDirectory=halfopen", "KillSignal=SIGINT"]) assert.ok(UNIT.includes(`\n${line}\n`), line);
  assert.match(UNIT, /^CapabilityBoundingSet=.*CAP_SYS_ADMIN.*CAP_NET_ADMIN/m);
  // What the unit leaves writable is where watch writes: root's default database and the log file.
  assert.ok(execArgs().includes("/var/log/halfopen/watch.jsonl"));
});

test("the unit's watch command line is one watch accepts", () => {
  const args = execArgs().map((a) => (a === "/var/log/halfopen/watch.jsonl" ? join(dir, "watch.jsonl") : a === "9465" ? "0" : a));
  const r = spawnSync(process.execPath, ["--import", "tsx", join(REPO, "src/cli/main.ts"), ...args, "--source", "procfs", "--no-store", "--duration", "0.5"], { cwd: REPO, encoding: "utf8", timeout: 30_000 });
  assert.equal(r.status, 0, r.stderr);
  assert.match(readFileSync(join(dir, "watch.jsonl"), "utf8"), /"type":"start"/);
});
