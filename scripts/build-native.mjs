#!/usr/bin/env node
// npm's install step for halfopen's optional native helper (native/, Linux only):
// compiles it from source with node-gyp (g++ and Node's headers; nothing is
// downloaded). halfopen works without it, reading /proc/net/tcp instead of a
// sock_diag dump, so a failed build is a warning, never a failed install.
//   HALFOPEN_NATIVE=0 skips the build; HALFOPEN_NATIVE=require makes a failure fatal.
import { spawnSync } from "node:child_process";
import { existsSync, rmSync } from "node:fs";
import { fileURLToPath } from "node:url";

const root = fileURLToPath(new URL("../", import.meta.url));
const say = (s) => process.stderr.write(`halfopen: ${s}\n`);
const mode = process.env.HALFOPEN_NATIVE;

if (process.platform !== "linux") {
  say(`native helper skipped: it is for Linux (this is ${process.platform})`);
  process.exit(0);
}
if (mode === "0") {
  say("native helper skipped (HALFOPEN_NATIVE=0): ls and the procfs source read /proc/net/tcp");
  process.exit(0);
}
// npm puts its own node-gyp on PATH for lifecycle scripts and names it here.
const gyp = process.env.npm_config_node_gyp;
const [cmd, args] = gyp && existsSync(gyp) ? [process.execPath, [gyp, "rebuild"]] : ["node-gyp", ["rebuild"]];
const run = spawnSync(cmd, args, { cwd: root, stdio: ["ignore", "inherit", "inherit"] });
if (run.status === 0) process.exit(0);
const why = run.error ? run.error.message : `node-gyp exited with ${run.status ?? run.signal}`;
rmSync(`${root}build`, { recursive: true, force: true });
if (mode === "require") {
  say(`native helper failed to build (${why}) and HALFOPEN_NATIVE=require`);
  process.exit(1);
}
say(`warning: native helper not built (${why}); halfopen still works, reading /proc/net/tcp (slower ls with many sockets)`);
