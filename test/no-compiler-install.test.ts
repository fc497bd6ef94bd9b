/**
 * An install that degrades (issue 30): a copy of this checkout installed with
 * `npm install` where no compiler works (CC and CXX are /bin/false). The
 * install succeeds; better-sqlite3 (optional) and the native helper are left
 * out and said; `watch --no-store` runs; `watch` says the store is unavailable
 * and keeps watching; `incidents` fails with HALFOPEN_STORE_UNAVAILABLE (exit 3).
 *
 * npm takes the packages from its cache (--prefer-offline; `npm ci` filled it).
 */
import assert from "node:assert/strict";
import { execFileSync, spawnSync } from "node:child_process";
import { cpSync, existsSync, mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { after, before, describe, it } from "node:test";
import { fileURLToPath } from "node:url";

const REPO = fileURLToPath(new URL("../", import.meta.url));

describe("npm install without a compiler", () => {
  let work: string;
  let copy: string;
  let install: { status: number | null; output: string };
  const env = (extra: Record<string, string> = {}) => ({ ...process.env, CC: "/bin/false", CXX: "/bin/false", HOME: work, HALFOPEN_DB: "", ...extra });

  before(() => {
    work = mkdtempSync(join(tmpdir(), "halfopen-nocc-"));
    copy = join(work, "halfopen");
    // The checkout as a clone would have it: tracked files and new ones not ignored (no node_modules, dist, build).
    const files = execFileSync("git", ["ls-files", "-z", "--cached", "--others", "--exclude-standard"], { cwd: REPO, encoding: "utf8" }).split("\0").filter(Boolean);
    for (const f of files) {
      if (!existsSync(join(REPO, f))) continue; // deleted, not yet committed
      mkdirSync(dirname(join(copy, f)), { recursive: true });
      cpSync(join(REPO, f), join(copy, f));
    }
    const r = spawnSync("npm", ["install", "--prefer-offline", "--no-audit", "--no-fund"], { cwd: copy, env: env(), encoding: "utf8", timeout: 600_000 });
    install = { status: r.status, output: `${r.stdout}\n${r.stderr}` };
  });
  after(() => rmSync(work, { recursive: true, force: true }));

  it("succeeds, leaving out better-sqlite3 and the native helper, and says so", () => {
    assert.equal(install.status, 0, install.output.slice(-3000));
    assert.ok(!existsSync(join(copy, "node_modules/better-sqlite3/build/Release/better_sqlite3.node")), "better-sqlite3 was built without a compiler?");
    assert.ok(!existsSync(join(copy, "build/Release/halfopen_native.node")), "the native helper was built without a compiler?");
    assert.match(install.output, /warning: native helper not built/);
    assert.match(install.output, /warning: the incident store is not available: better-sqlite3 was not built/);
    assert.ok(existsSync(join(copy, "dist/cli/main.js")), "the CLI was not built");
  });

  it("watch --no-store runs; watch says once that the store is unavailable and watches", () => {
    const cli = join(copy, "dist/cli/main.js");
    const quiet = spawnSync(process.execPath, [cli, "watch", "--no-store", "--duration", "1", "--json"], { cwd: work, env: env(), encoding: "utf8", timeout: 60_000 });
    assert.equal(quiet.status, 0, quiet.stderr);
    assert.doesNotMatch(quiet.stderr, /store|database/i);
    assert.match(quiet.stdout, /"type":"start"/);

    const plain = spawnSync(process.execPath, [cli, "watch", "--duration", "1", "--json"], { cwd: work, env: env(), encoding: "utf8", timeout: 60_000 });
    assert.equal(plain.status, 0, plain.stderr);
    assert.match(plain.stdout, /"type":"start"/);
    const said = `${plain.stdout}\n${plain.stderr}`.split("\n").filter((l) => l.includes("HALFOPEN_STORE_UNAVAILABLE"));
    assert.equal(said.length, 1, `said ${said.length} times:\n${plain.stdout}\n${plain.stderr}`);
    assert.match(said[0] ?? "", /better-sqlite3 is not installed/);
  });

  it("incidents, which needs the store, fails with HALFOPEN_STORE_UNAVAILABLE (exit 3), no stack trace", () => {
    const r = spawnSync(process.execPath, [join(copy, "dist/cli/main.js"), "incidents"], { cwd: work, env: env(), encoding: "utf8", timeout: 60_000 });
    assert.equal(r.status, 3, r.stderr);
    assert.match(r.stderr, /HALFOPEN_STORE_UNAVAILABLE/);
    assert.doesNotMatch(r.stderr, /\n\s+at /);
  });
});
