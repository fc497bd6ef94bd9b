/**
 * The man pages and the bash completion are made from the same commander
 * definitions as `--help`: every long option each command's `--help` lists is
 * in its man page and is offered by the completion, and every command has a
 * page. (dist/ is built by the gate before the tests.)
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { fileURLToPath } from "node:url";
import { fullProgram } from "../src/cli/program.js";
import { bashCompletion, commandsOf, manPages } from "../src/cli/reference/pages.js";

const REPO = fileURLToPath(new URL("../", import.meta.url));

function help(name: string): string {
  const r = spawnSync(process.execPath, ["--import", "tsx", join(REPO, "src/cli/main.ts"), ...name.split(" ").filter(Boolean), "--help"], { cwd: REPO, encoding: "utf8", env: { ...process.env, COLUMNS: "200" } });
  assert.equal(r.status, 0, r.stderr);
  return r.stdout;
}

/** The long options `--help` lists under "Options:". */
function longOptions(text: string): string[] {
  const options = text.split(/\n(?:Commands|Arguments):/)[0]?.split("Options:")[1] ?? "";
  return [...new Set([...options.matchAll(/^ {2}(?:-\w, )?(--[a-z][a-z0-9-]*)/gm)].map((m) => m[1] as string))];
}

test("every command has a man page listing every long option its --help lists", async () => {
  const program = await fullProgram();
  const pages = manPages(program, "test", "2026-12-06");
  const commands = ["", ...commandsOf(program).map((c) => c.name)];
  assert.equal(pages.size, commands.length);
  for (const name of commands) {
    const page = pages.get(`halfopen${name === "" ? "" : `-${name.replace(/ /g, "-")}`}.1`);
    assert.ok(page, `a page for "${name}"`);
    const text = page.replace(/\\-/g, "-");
    const flags = longOptions(help(name));
    if (name === "watch") assert.ok(flags.includes("--enforce"), "the parser saw watch's options");
    for (const flag of flags) if (flag !== "--help") assert.ok(text.includes(flag), `${flag} in the page of "${name}"`);
    assert.match(page, /^\.TH HALFOPEN/m);
  }
});

test("the bash completion offers the commands and each command's options", async () => {
  const program = await fullProgram();
  const dir = mkdtempSync(join(tmpdir(), "halfopen-completion-"));
  try {
    writeFileSync(join(dir, "c.sh"), bashCompletion(program));
    const complete = (...words: string[]) => {
      const r = spawnSync("bash", ["-c", `source ${join(dir, "c.sh")}; COMP_WORDS=(${words.map((w) => `'${w}'`).join(" ")}); COMP_CWORD=${words.length - 1}; _halfopen; printf '%s\\n' "\${COMPREPLY[@]}"`], { encoding: "utf8" });
      assert.equal(r.status, 0, r.stderr);
      return r.stdout.trim().split("\n").filter(Boolean);
    };
    assert.deepEqual(complete("halfopen", "wa"), ["watch"]);
    assert.deepEqual(complete("halfopen", "watch", "--enforce-"), ["--enforce-dry-run", "--enforce-loopback"]);
    assert.deepEqual(complete("halfopen", "incidents", "sh"), ["show"]);
    for (const name of ["watch", "ls", "scan", "incidents show"]) {
      const offered = complete("halfopen", ...name.split(" "), "--");
      for (const flag of longOptions(help(name))) assert.ok(offered.includes(flag), `${flag} offered after "${name}"`);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
