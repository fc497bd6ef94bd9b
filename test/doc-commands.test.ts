/**
 * The docs show what the program prints: every `$ halfopen ...` in README.md
 * and docs/*.md whose output is shown and can be reproduced anywhere (the
 * simulator, replays of the shipped captures) is run, and every line the doc
 * shows must be a line of the real output, in the same order (a doc may leave
 * lines out; a line it shows cut with "…" must begin the real one). TZ=UTC,
 * standard output a pipe: nothing is cut in the real output.
 * Commands that need a live host, root or a lab (watch, ls, scan, kill) are
 * run by the integration tests instead; this test lists how many it left.
 *
 *   HALFOPEN_UPDATE_DOCS=1 node --import tsx --test test/doc-commands.test.ts   rewrites the blocks from real runs
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import { fileURLToPath } from "node:url";
import { parse } from "shell-quote";

const REPO = fileURLToPath(new URL("../", import.meta.url));
const DOCS = ["README.md", ...readdirSync(join(REPO, "docs")).filter((f) => f.endsWith(".md")).map((f) => `docs/${f}`)];

interface Shown {
  doc: string;
  /** Line index of the command in the doc. */
  line: number;
  command: string;
  output: string[];
}

/** `$ halfopen ...` lines in fenced blocks, each with the lines after it up to the next `$ ` or the fence. */
export function shownCommands(doc: string, text: string): Shown[] {
  const lines = text.split("\n");
  const out: Shown[] = [];
  let fenced = false;
  for (let i = 0; i < lines.length; i++) {
    const l = lines[i] as string;
    if (l.startsWith("```")) {
      fenced = !fenced;
      continue;
    }
    if (!fenced || !l.startsWith("$ halfopen ")) continue;
    const output: string[] = [];
    let j = i + 1;
    for (; j < lines.length && !(lines[j] as string).startsWith("```") && !(lines[j] as string).startsWith("$ "); j++) output.push(lines[j] as string);
    out.push({ doc, line: i, command: l.slice(2), output });
  }
  return out;
}

/** Reproducible here: the simulator (no --plot: it writes a file) and replays of shipped captures. */
function reproducible(args: string[]): boolean {
  if (args[1] === "simulate") return !args.includes("--plot") && !args.some((a) => a.endsWith(".jsonl") && !a.startsWith("test/fixtures/"));
  return args[1] === "watch" && args.includes("--replay") && args.includes("--as-fast-as-possible") && args.some((a) => a.startsWith("test/fixtures/"));
}

function run(args: string[]): string[] {
  const r = spawnSync(process.execPath, [join(REPO, "dist/cli/main.js"), ...args.slice(1)], { cwd: REPO, encoding: "utf8", env: { ...process.env, TZ: "UTC", COLUMNS: "" }, timeout: 120_000 });
  assert.equal(r.status, 0, `${args.join(" ")}: ${r.stderr}`);
  // What a terminal shows: standard error's lines and standard output's, in order (stderr first: its lines come before the run).
  return `${r.stderr}${r.stdout}`.replace(/\n$/, "").split("\n");
}

/** The first doc line that is not, in order, a line of the real output (a line ending in "…": its beginning); undefined when all are. */
export function unmatched(doc: readonly string[], real: readonly string[]): string | undefined {
  let at = 0;
  for (const line of doc) {
    if (line.trim() === "") continue;
    const cut = line.endsWith("…") ? line.slice(0, -1) : undefined;
    while (at < real.length && !(cut === undefined ? real[at] === line : (real[at] as string).startsWith(cut))) at++;
    if (at >= real.length) return line;
    at++;
  }
  return undefined;
}

const shown = DOCS.flatMap((doc) => shownCommands(doc, readFileSync(join(REPO, doc), "utf8")));
const runnable = shown.filter((s) => s.output.length > 0 && reproducible(parse(s.command).map(String)));

test("the docs show reproducible commands with their output, and leave the live ones to the integration tests", () => {
  assert.ok(runnable.length >= 8, `${runnable.length} reproducible commands with output found`);
  console.log(`# ${runnable.length} of ${shown.length} shown commands are reproduced here; the rest need a live host, root or a lab`);
});

for (const s of runnable) {
  test(`${s.doc}:${s.line + 1}: ${s.command}`, () => {
    const got = run(parse(s.command).map(String));
    if (process.env.HALFOPEN_UPDATE_DOCS === "1") {
      const path = join(REPO, s.doc);
      const lines = readFileSync(path, "utf8").split("\n");
      const at = lines.indexOf(`$ ${s.command}`);
      lines.splice(at + 1, s.output.length, ...got);
      writeFileSync(path, lines.join("\n"));
      return;
    }
    const missing = unmatched(s.output, got);
    assert.equal(missing, undefined, `the doc shows a line the program does not print:\n  ${missing}\nreal output:\n${got.join("\n")}`);
  });
}
