#!/usr/bin/env node
/**
 * Packs halfopen-lib: the limiter and the scanner library alone, from the
 * same build as halfopen (dist/, made by `npm run build`). Copies the modules
 * `halfopen/limiter` and `halfopen/scanner` reach (their JavaScript, types and
 * source maps; the monitor's event sources, which only `openWatchSource` loads,
 * are left out) next to packages/lib/package.json, README.md and LICENSE in a
 * staging directory, checks that every package those modules import is a
 * dependency of packages/lib/package.json, and runs `npm pack` there.
 *
 *   node scripts/pack-lib.mjs [--out DIR]     prints the tarball's path
 *
 * Why a second package and not optional parts of one: see docs/install.md.
 */
import { execFileSync } from "node:child_process";
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, relative, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";

const REPO = fileURLToPath(new URL("../", import.meta.url));
const DIST = join(REPO, "dist");
const ENTRIES = ["limiter/index", "scanner/index"];
/** Loaded only by openWatchSource (the monitor), never by the limiter or the scanner. */
const MONITOR_ONLY = /^platform\/(linux\/(procfs-reader|tracefs-source)|windows\/windows-reader|macos\/macos-reader|polling-source|replay-source)\.js$/;

const { values } = parseArgs({ options: { out: { type: "string" } } });
const out = resolve(values.out ?? mkdtempSync(join(tmpdir(), "halfopen-lib-")));

function fail(message) {
  process.stderr.write(`pack-lib: ${message}\n`);
  process.exit(1);
}

if (!existsSync(join(DIST, "limiter/index.js"))) fail("dist/ is not built: run npm run build first");

/** Relative modules a file imports (static and dynamic), and the packages it imports. */
function importsOf(file) {
  const text = readFileSync(file, "utf8");
  const local = [];
  const packages = [];
  for (const m of text.matchAll(/^(?:import|export)\s[^;]*?\sfrom\s*["']([^"']+)["']|^import\s+["']([^"']+)["']|\bimport\(\s*["']([^"']+)["']\s*\)/gm)) {
    const spec = m[1] ?? m[2] ?? m[3];
    if (spec.startsWith(".")) local.push(resolve(dirname(file), spec));
    else if (!spec.startsWith("node:")) packages.push(spec.startsWith("@") ? spec.split("/").slice(0, 2).join("/") : spec.split("/")[0]);
  }
  return { local, packages };
}

/** Every module reachable from the entries, with `ext` (.js or .d.ts) for each. */
function closure(ext) {
  const seen = new Set();
  const packages = new Map();
  const queue = ENTRIES.map((e) => join(DIST, `${e}${ext}`));
  while (queue.length > 0) {
    const file = queue.shift();
    if (seen.has(file)) continue;
    if (!existsSync(file)) fail(`${relative(REPO, file)} is imported but missing`);
    seen.add(file);
    const { local, packages: used } = importsOf(file);
    for (const p of used) if (!packages.has(p)) packages.set(p, relative(DIST, file));
    for (const l of local) {
      const target = ext === ".js" ? l : l.replace(/\.js$/, ".d.ts");
      if (ext === ".js" && MONITOR_ONLY.test(relative(DIST, target))) continue;
      queue.push(target);
    }
  }
  return { files: seen, packages };
}

const js = closure(".js");
const dts = closure(".d.ts");
const manifest = JSON.parse(readFileSync(join(REPO, "packages/lib/package.json"), "utf8"));
const declared = new Set([...Object.keys(manifest.dependencies ?? {}), ...Object.keys(manifest.peerDependencies ?? {})]);
for (const [pkg, from] of js.packages) if (!declared.has(pkg)) fail(`dist/${from} imports ${pkg}, which packages/lib/package.json does not declare`);
for (const [pkg, from] of dts.packages) if (!declared.has(pkg) && !pkg.startsWith("@types/")) fail(`dist/${from} (types) imports ${pkg}, which packages/lib/package.json does not declare`);
const root = JSON.parse(readFileSync(join(REPO, "package.json"), "utf8"));
if (manifest.version !== root.version) fail(`packages/lib/package.json has version ${manifest.version}, halfopen has ${root.version}`);

const stage = join(out, "halfopen-lib");
rmSync(stage, { recursive: true, force: true });
mkdirSync(stage, { recursive: true });
for (const file of [...js.files, ...dts.files]) {
  for (const f of [file, `${file}.map`]) {
    if (!existsSync(f)) continue;
    const to = join(stage, "dist", relative(DIST, f));
    mkdirSync(dirname(to), { recursive: true });
    cpSync(f, to);
  }
}
for (const f of ["package.json", "README.md"]) cpSync(join(REPO, "packages/lib", f), join(stage, f));
cpSync(join(REPO, "LICENSE"), join(stage, "LICENSE"));
const name = execFileSync("npm", ["pack", "--silent", "--pack-destination", out], { cwd: stage, encoding: "utf8" }).trim().split("\n").pop();
const tarball = join(out, name);
writeFileSync(join(out, "halfopen-lib.files"), [...js.files, ...dts.files].map((f) => relative(DIST, f)).sort().join("\n") + "\n");
process.stdout.write(`${tarball}\n`);
