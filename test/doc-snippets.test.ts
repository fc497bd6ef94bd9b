/**
 * Every TypeScript block (```ts) in README.md and docs/*.md compiles under
 * `tsc --strict` against the published types (package "exports" to the built
 * dist/, as a user's project would see them), twice: with Node's types only,
 * and with the DOM library loaded as well (a web-and-Node project), where the
 * global `fetch`/`RequestInit` are the DOM's. The snippets talk to
 * 127.0.0.1:8080 and are not run; the runnable ones are examples/ and the API's
 * `@example`s (test/examples.test.ts, test/api-examples.test.ts). Imports of
 * `halfopen-lib/...` (docs/install.md) resolve to the same dist/ modules.
 */
import assert from "node:assert/strict";
import { mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join, relative } from "node:path";
import { after, before, describe, it } from "node:test";
import { fileURLToPath } from "node:url";
import ts from "typescript";

const REPO = fileURLToPath(new URL("../", import.meta.url));
const OUT = join(REPO, ".doc-snippets");

/** The ```ts blocks of a Markdown text, with the line each starts on. */
export function tsBlocks(markdown: string): { line: number; code: string }[] {
  const out: { line: number; code: string }[] = [];
  const lines = markdown.split("\n");
  for (let i = 0; i < lines.length; i++) {
    if (!/^```(ts|typescript)\s*$/.test(lines[i] ?? "")) continue;
    const start = i + 1;
    const body: string[] = [];
    for (i++; i < lines.length && !/^```\s*$/.test(lines[i] ?? ""); i++) body.push(lines[i] ?? "");
    out.push({ line: start, code: body.join("\n") });
  }
  return out;
}

describe("TypeScript in README.md and docs/", () => {
  const snippets: { doc: string; line: number; file: string }[] = [];
  before(() => {
    rmSync(OUT, { recursive: true, force: true });
    mkdirSync(OUT, { recursive: true });
    const docs = ["README.md", ...readdirSync(join(REPO, "docs")).filter((f) => f.endsWith(".md")).map((f) => `docs/${f}`)];
    for (const doc of docs) {
      for (const { line, code } of tsBlocks(readFileSync(join(REPO, doc), "utf8"))) {
        const file = join(OUT, `${doc.replace(/[/.]/g, "_")}-${line}.ts`);
        writeFileSync(file, `${code}\nexport {};\n`);
        snippets.push({ doc, line, file });
      }
    }
  });
  after(() => rmSync(OUT, { recursive: true, force: true }));

  it("finds the snippets (README's limiter, docs/limiter.md, docs/scanner.md)", () => {
    const docs = new Set(snippets.map((s) => s.doc));
    for (const d of ["README.md", "docs/limiter.md", "docs/scanner.md"]) assert.ok(docs.has(d), `no TypeScript block found in ${d}`);
  });

  for (const [name, lib] of [
    ["Node's types only", ["lib.es2023.d.ts"]],
    ["the DOM library as well", ["lib.es2023.d.ts", "lib.dom.d.ts"]],
  ] as const) {
    it(`every snippet compiles under --strict with ${name}`, () => {
      const options: ts.CompilerOptions = {
        strict: true,
        noEmit: true,
        target: ts.ScriptTarget.ES2023,
        module: ts.ModuleKind.NodeNext,
        moduleResolution: ts.ModuleResolutionKind.NodeNext,
        lib: [...lib],
        types: ["node"],
        skipLibCheck: true,
        // halfopen-lib's modules are these same files (scripts/pack-lib.mjs copies them from dist/).
        paths: { "halfopen-lib/*": [join(REPO, "dist/*/index.d.ts")] },
      };
      const program = ts.createProgram(
        snippets.map((s) => s.file),
        options,
      );
      const problems = ts.getPreEmitDiagnostics(program).map((d) => {
        const snippet = snippets.find((s) => s.file === d.file?.fileName);
        const at = d.file ? d.file.getLineAndCharacterOfPosition(d.start ?? 0).line : 0;
        const where = snippet ? `${snippet.doc}:${snippet.line + at + 1}` : d.file ? relative(REPO, d.file.fileName) : "";
        return `${where} ${ts.flattenDiagnosticMessageText(d.messageText, "\n")}`;
      });
      assert.deepEqual(problems, []);
    });
  }
});
