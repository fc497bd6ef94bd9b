/**
 * Every `@example` in the public API (src/index.ts, src/limiter/index.ts,
 * src/scanner/index.ts and the modules they re-export from) is type-checked against the published
 * types and run, the way Deno's standard library does, so the docs cannot
 * drift from the code. Examples import "halfopen" / "halfopen/limiter",
 * which resolve through package.json "exports" to the built dist/
 * (scripts/check.sh builds it first). They run with the repository as the
 * working directory and may only reach loopback.
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { dirname, join, relative } from "node:path";
import { after, before, describe, it } from "node:test";
import { fileURLToPath } from "node:url";
import ts from "typescript";

const REPO = fileURLToPath(new URL("../", import.meta.url));
const ENTRY_POINTS = ["src/index.ts", "src/limiter/index.ts", "src/scanner/index.ts"];
const OUT = join(REPO, ".examples");

/** The entry points and every module they re-export from. */
function publicModules(): string[] {
  const seen = new Set<string>();
  for (const entry of ENTRY_POINTS) {
    seen.add(entry);
    const text = readFileSync(join(REPO, entry), "utf8");
    for (const m of text.matchAll(/^export [^;]*? from "(\.[^"]+)\.js";/gms)) {
      seen.add(relative(REPO, join(REPO, dirname(entry), `${m[1]}.ts`)));
    }
  }
  return [...seen].sort();
}

/** The ```ts blocks after each `@example` in a file's doc comments, without the comment's leading `*`. */
export function examplesOf(text: string): string[] {
  const out: string[] = [];
  const lines = text.split("\n");
  for (let i = 0; i < lines.length; i++) {
    if (!/^\s*\*\s*@example\b/.test(lines[i] ?? "")) continue;
    let j = i + 1;
    while (j < lines.length && !/^\s*\*\s*```ts\s*$/.test(lines[j] ?? "")) j++;
    const body: string[] = [];
    for (j++; j < lines.length && !/^\s*\*\s*```\s*$/.test(lines[j] ?? ""); j++) body.push((lines[j] ?? "").replace(/^\s*\* ?/, ""));
    out.push(body.join("\n"));
    i = j;
  }
  return out;
}

interface Example {
  module: string;
  index: number;
  file: string;
}

describe("public API examples", () => {
  const examples: Example[] = [];
  before(() => {
    rmSync(OUT, { recursive: true, force: true });
    mkdirSync(OUT, { recursive: true });
    for (const module of publicModules()) {
      examplesOf(readFileSync(join(REPO, module), "utf8")).forEach((code, index) => {
        const file = join(OUT, `${module.replace(/[/.]/g, "_")}-${index}.ts`);
        // Each example is a module of its own (top-level await, its own names).
        writeFileSync(file, `${code}\nexport {};\n`);
        examples.push({ module, index, file });
      });
    }
  });
  after(() => rmSync(OUT, { recursive: true, force: true }));

  it("finds the examples of the public modules (the index, the detector, the limiter, ...)", () => {
    const modules = new Set(examples.map((e) => e.module));
    for (const m of ["src/index.ts", "src/core/detector.ts", "src/core/note-log.ts", "src/limiter/limiter.ts", "src/limiter/dispatcher.ts", "src/errors.ts"]) {
      assert.ok(modules.has(m), `no example found in ${m}`);
    }
    assert.ok(examples.length >= 12, `only ${examples.length} examples found`);
  });

  it("every example type-checks against the published types", () => {
    const config = ts.getParsedCommandLineOfConfigFile(join(REPO, "tsconfig.json"), {}, { ...ts.sys, onUnRecoverableConfigFileDiagnostic: (d) => assert.fail(String(d.messageText)) });
    assert.ok(config);
    const program = ts.createProgram(examples.map((e) => e.file), { ...config.options, noEmit: true });
    const problems = ts.getPreEmitDiagnostics(program).map((d) => {
      const where = d.file ? `${relative(REPO, d.file.fileName)}:${d.file.getLineAndCharacterOfPosition(d.start ?? 0).line + 1}` : "";
      return `${where} ${ts.flattenDiagnosticMessageText(d.messageText, "\n")}`;
    });
    assert.deepEqual(problems, []);
  });

  it("every example runs to completion", () => {
    for (const e of examples) {
      const r = spawnSync(process.execPath, ["--import", "tsx", e.file], { cwd: REPO, encoding: "utf8", timeout: 30_000 });
      assert.equal(r.status, 0, `${e.module} example ${e.index + 1} failed (${r.signal ?? r.status}):\n${r.stderr}`);
    }
  });
});
