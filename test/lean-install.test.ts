/**
 * The library at a small library's weight: halfopen-lib (the limiter and the
 * scanner library, packed from this build by scripts/pack-lib.mjs) installed
 * from its tarball into an empty project, as a user would. Goal (issue 30):
 * under 10 packages and under 2 MB beyond halfopen-lib itself, no npm warning,
 * and a strict TypeScript program using the limiter with Node's global fetch
 * compiles (with and without the DOM library) and runs against a local server.
 *
 * npm resolves the two dependencies from its cache when it can
 * (--prefer-offline: `npm ci` filled it) and from the registry otherwise.
 */
import assert from "node:assert/strict";
import { execFileSync, spawnSync } from "node:child_process";
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { fileURLToPath } from "node:url";
import ts from "typescript";

const REPO = fileURLToPath(new URL("../", import.meta.url));

/** Bytes of every file under `dir` (apparent size, as npm counts "unpacked size"). */
function bytesUnder(dir: string): number {
  let total = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) total += bytesUnder(path);
    else if (entry.isFile()) total += statSync(path).size;
  }
  return total;
}

const PROGRAM = `import http from "node:http";
import { once } from "node:events";
import type { AddressInfo } from "node:net";
import { HalfOpenLimiter, type LimiterStats } from "halfopen-lib/limiter";
import { parseTarget, TargetSet } from "halfopen-lib/scanner";

const server = http.createServer((req, res) => setTimeout(() => res.end(\`hello \${req.url}\`), 20)).listen(0, "127.0.0.1");
await once(server, "listening");
const base = \`http://127.0.0.1:\${(server.address() as AddressInfo).port}\`;
const limiter = new HalfOpenLimiter({ maxHalfOpen: 2, connectTimeoutMs: 3000 });
const texts: string[] = await Promise.all(
  Array.from({ length: 8 }, async (_, i) => {
    const res: Response = await limiter.fetch(\`\${base}/\${i}\`, { headers: { "x-test": "1" } });
    return res.text();
  }),
);
const stats: LimiterStats = limiter.stats();
const range = parseTarget("198.18.0.0/30");
const count = range.kind === "range" ? new TargetSet([range.range]).count() : 0n;
await limiter.close();
server.close();
console.log(JSON.stringify({ texts, established: stats.established, peak: stats.peakInFlight, addresses: String(count) }));
`;

describe("halfopen-lib from its tarball in an empty project", () => {
  let work: string;
  let project: string;
  let installOutput: string;
  before(() => {
    work = mkdtempSync(join(tmpdir(), "halfopen-lean-"));
    const tarball = execFileSync(process.execPath, [join(REPO, "scripts/pack-lib.mjs"), "--out", work], { encoding: "utf8" }).trim();
    project = join(work, "project");
    execFileSync("mkdir", [project]);
    writeFileSync(join(project, "package.json"), JSON.stringify({ name: "lean-check", private: true, type: "module" }, null, 2));
    const r = spawnSync("npm", ["install", "--prefer-offline", "--no-audit", "--no-fund", "--loglevel", "warn", tarball], { cwd: project, encoding: "utf8", timeout: 180_000 });
    installOutput = `${r.stdout}\n${r.stderr}`;
    assert.equal(r.status, 0, `npm install failed:\n${installOutput}`);
  });
  after(() => rmSync(work, { recursive: true, force: true }));

  it("installs without a warning", () => {
    assert.deepEqual(installOutput.split("\n").filter((l) => /\bwarn/i.test(l)), []);
  });

  it("pulls fewer than 10 packages and under 2 MB beyond itself", () => {
    const lock = JSON.parse(readFileSync(join(project, "node_modules/.package-lock.json"), "utf8")) as { packages: Record<string, unknown> };
    const others = Object.keys(lock.packages).filter((p) => p.startsWith("node_modules/") && p !== "node_modules/halfopen-lib");
    assert.ok(others.length < 10, `${others.length} packages: ${others.join(", ")}`);
    const bytes = others.reduce((n, p) => n + bytesUnder(join(project, p)), 0);
    assert.ok(bytes < 2 * 1024 * 1024, `${bytes} bytes in ${others.join(", ")}`);
    // And none of the command-line tool's parts came along.
    for (const heavy of ["fastify", "better-sqlite3", "vega", "prom-client", "commander"]) assert.ok(!others.includes(`node_modules/${heavy}`), heavy);
  });

  it("ships its licence, and source maps that resolve (their sources inlined: no src/ is shipped)", () => {
    const pkg = join(project, "node_modules/halfopen-lib");
    assert.match(readFileSync(join(pkg, "LICENSE"), "utf8"), /MIT License/);
    const maps: string[] = [];
    const walk = (dir: string) => {
      for (const e of readdirSync(dir, { withFileTypes: true })) {
        if (e.isDirectory()) walk(join(dir, e.name));
        else if (e.name.endsWith(".js.map")) maps.push(join(dir, e.name));
      }
    };
    walk(join(pkg, "dist"));
    assert.ok(maps.length > 20, `${maps.length} maps`);
    for (const m of maps) {
      const map = JSON.parse(readFileSync(m, "utf8")) as { sources: string[]; sourcesContent?: (string | null)[] };
      assert.equal(map.sourcesContent?.length, map.sources.length, m);
      assert.ok(map.sourcesContent.every((c) => typeof c === "string" && c.length > 0), m);
    }
  });

  it("a strict TypeScript program with the limiter and global fetch compiles (Node types; DOM too) and runs", () => {
    const main = join(project, "main.ts");
    writeFileSync(main, PROGRAM);
    for (const lib of [["lib.es2023.d.ts"], ["lib.es2023.d.ts", "lib.dom.d.ts"]]) {
      const options: ts.CompilerOptions = {
        strict: true,
        target: ts.ScriptTarget.ES2023,
        module: ts.ModuleKind.NodeNext,
        moduleResolution: ts.ModuleResolutionKind.NodeNext,
        lib,
        types: ["node"],
        typeRoots: [join(REPO, "node_modules/@types")],
        outDir: join(project, "out"),
      };
      const program = ts.createProgram([main], options);
      const problems = ts.getPreEmitDiagnostics(program).map((d) => ts.flattenDiagnosticMessageText(d.messageText, "\n"));
      assert.deepEqual(problems, [], `with ${lib.join(", ")}`);
      program.emit();
    }
    const out = execFileSync(process.execPath, [join(project, "out/main.js")], { cwd: project, encoding: "utf8", timeout: 30_000 });
    const result = JSON.parse(out) as { texts: string[]; established: number; peak: number; addresses: string };
    assert.deepEqual(result.texts, Array.from({ length: 8 }, (_, i) => `hello /${i}`));
    assert.ok(result.established >= 2 && result.established <= 8, `established ${result.established}`);
    assert.ok(result.peak <= 2, `peak in flight ${result.peak}`);
    assert.equal(result.addresses, "4");
  });
});
