#!/usr/bin/env node
// npm's install step for halfopen's optional native helper (native/, Linux only):
// compiles it from source with node-gyp (g++ and Node's headers; nothing is
// downloaded). halfopen works without it, reading /proc/net/tcp instead of a
// sock_diag dump, so a failed build is a warning, never a failed install.
//   HALFOPEN_NATIVE=0 skips the build; HALFOPEN_NATIVE=require makes a failure fatal.
// Then it says whether better-sqlite3 (the incident store, an optional
// dependency that also compiles from source) is there: npm drops a failed
// optional dependency without a word.
import { spawnSync } from "node:child_process";
import { existsSync, rmSync } from "node:fs";
import { createRequire } from "node:module";
import { fileURLToPath } from "node:url";

const root = fileURLToPath(new URL("../", import.meta.url));
const say = (s) => process.stderr.write(`halfopen: ${s}\n`);
const mode = process.env.HALFOPEN_NATIVE;

/** Builds the helper; false when the install must fail (HALFOPEN_NATIVE=require). */
function buildHelper() {
  if (process.platform !== "linux") {
    say(`native helper skipped: it is for Linux (this is ${process.platform})`);
    return true;
  }
  if (mode === "0") {
    say("native helper skipped (HALFOPEN_NATIVE=0): ls and the procfs source read /proc/net/tcp");
    return true;
  }
  // npm puts its own node-gyp on PATH for lifecycle scripts and names it here.
  const gyp = process.env.npm_config_node_gyp;
  const [cmd, args] = gyp && existsSync(gyp) ? [process.execPath, [gyp, "rebuild"]] : ["node-gyp", ["rebuild"]];
  const run = spawnSync(cmd, args, { cwd: root, stdio: ["ignore", "inherit", "inherit"] });
  if (run.status === 0) return true;
  const why = run.error ? run.error.message : `node-gyp exited with ${run.status ?? run.signal}`;
  rmSync(`${root}build`, { recursive: true, force: true });
  if (mode === "require") {
    say(`native helper failed to build (${why}) and HALFOPEN_NATIVE=require`);
    return false;
  }
  say(`warning: native helper not built (${why}); halfopen still works, reading /proc/net/tcp (slower ls with many sockets), without watch --enforce and raw host discovery`);
  return true;
}

/** Whether the incident store's SQLite module loads; says what is missing when not. */
function checkSqlite() {
  try {
    const Database = createRequire(`${root}package.json`)("better-sqlite3");
    new Database(":memory:").close();
  } catch (e) {
    const missing = e && e.code === "MODULE_NOT_FOUND";
    say(
      `warning: the incident store is not available: better-sqlite3 ${missing ? "was not built (it compiles from source: g++, make, python3)" : `does not load (${String(e?.message).split("\n")[0]})`}; ` +
        `watch runs without storing and says so; after installing a compiler: npm rebuild better-sqlite3`,
    );
  }
}

const ok = buildHelper();
checkSqlite();
process.exit(ok ? 0 : 1);
