import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, it } from "node:test";
import { HookSink, checkHookProgram, hookArgv } from "./hook-sink.js";
import type { WarningItem, WatchItem } from "./sink.js";

const warning = (message: string): WatchItem => ({ kind: "warning", level: "note", message });

/** A hook sink that sends every warning item's message as `{ message }`, collecting what it publishes. */
function sink(argv: string[], timeoutMs = 5000) {
  const published: WarningItem[] = [];
  const hook = new HookSink({
    option: "--on-test",
    argv,
    timeoutMs,
    publish: (item) => {
      if (item.kind === "warning") published.push(item);
    },
    select: (item) => (item.kind === "warning" ? { message: item.message } : undefined),
  });
  return { hook, published };
}

/** node -e SCRIPT as a hook. */
const node = (script: string) => [process.execPath, "-e", script];

describe("hookArgv", () => {
  it("splits words and quotes once, and leaves $NAME as written", () => {
    assert.deepEqual(hookArgv("--on-verdict", `/usr/local/bin/notify --to "ops team" 'it''s' $HOME`), ["/usr/local/bin/notify", "--to", "ops team", "its", "$HOME"]);
  });

  it("refuses what only a shell would do, with the option and the reason", () => {
    assert.throws(() => hookArgv("--on-verdict", "notify | mail root"), /Cannot use --on-verdict "notify \| mail root": "\|" needs a shell, and halfopen never runs one/);
    assert.throws(() => hookArgv("--on-incident", "rm -rf *"), /"\*" is a glob/);
    assert.throws(() => hookArgv("--on-incident", "a; b"), /";" needs a shell/);
    assert.throws(() => hookArgv("--on-incident", "  "), /expected a program and its arguments/);
    for (const cmd of ["a && b", "a > f", "$(id)"]) assert.throws(() => hookArgv("--on-verdict", cmd), { code: "HALFOPEN_BAD_USAGE" }, cmd);
  });
});

describe("HookSink", () => {
  it("runs the program with each record on stdin, one at a time, in order", async () => {
    const out = join(mkdtempSync(join(tmpdir(), "halfopen-hook-")), "log");
    // Each run appends "start <msg>", waits, then "end <msg>": overlapping runs would interleave the lines.
    const script = `const fs=require("fs");const m=JSON.parse(fs.readFileSync(0,"utf8")).message;fs.appendFileSync(${JSON.stringify(out)},"start "+m+"\\n");setTimeout(()=>fs.appendFileSync(${JSON.stringify(out)},"end "+m+"\\n"),100)`;
    const { hook, published } = sink(node(script));
    for (const m of ["a", "b", "c"]) hook.write(warning(m));
    await hook.finish();
    assert.equal(readFileSync(out, "utf8"), "start a\nend a\nstart b\nend b\nstart c\nend c\n");
    assert.deepEqual(published, []);
    assert.equal(hook.stats.runs, 3);
  });

  it("a hook that fails, hangs or is missing is reported and the next one still runs", async () => {
    const failing = sink(node('process.stderr.write("no route to pager\\n"); process.exit(3)'));
    failing.hook.write(warning("x"));
    failing.hook.write(warning("y"));
    await failing.hook.finish();
    assert.equal(failing.published.length, 2);
    assert.match(failing.published[0]!.message, /^--on-test ".*" exited with status 3: no route to pager$/);

    const hanging = sink(node("setTimeout(() => {}, 60000)"), 300);
    hanging.hook.write(warning("x"));
    await hanging.hook.finish();
    assert.match(hanging.published[0]?.message ?? "", /killed after 0\.3s \(--hook-timeout\), with the processes it started$/);

    const missing = sink(["/nonexistent/halfopen-hook"]);
    missing.hook.write(warning("x"));
    await missing.hook.finish();
    assert.match(missing.published[0]?.message ?? "", /cannot run "\/nonexistent\/halfopen-hook": no such program$/);
  });

  it("a hook whose child keeps its output open (a hung curl, `( sleep 60 ) &`) is done when it exits: the child's group is killed, said, and the next hook runs", { skip: process.platform === "win32" ? "process groups" : false }, async () => {
    const pids = join(mkdtempSync(join(tmpdir(), "halfopen-hook-")), "pids");
    const { hook, published } = sink(["sh", "-c", `sleep 60 & echo $! >> ${pids}; exit 0`]);
    hook.write(warning("a"));
    hook.write(warning("b"));
    const started = Date.now();
    await hook.finish();
    assert.equal(hook.stats.runs, 2, "both records' hooks ran");
    assert.ok(Date.now() - started < 8000, "a second of grace each, not the child's 60 s");
    assert.equal(published.length, 2);
    assert.match(published[0]?.message ?? "", /kept its output open; that process group was killed$/);
    const left = readFileSync(pids, "utf8").trim().split("\n").map(Number);
    assert.equal(left.length, 2);
    const alive = (pid: number) => {
      try {
        process.kill(pid, 0);
        return true;
      } catch {
        return false;
      }
    };
    for (let i = 0; i < 100 && left.some(alive); i++) await new Promise((r) => setTimeout(r, 20));
    assert.deepEqual(left.filter(alive), [], "the grandchildren are gone");
  });

  it("a hook killed for its timeout takes the processes it started with it", { skip: process.platform === "win32" ? "process groups" : false }, async () => {
    const pids = join(mkdtempSync(join(tmpdir(), "halfopen-hook-")), "pids");
    const { hook, published } = sink(["sh", "-c", `sleep 60 & echo $! >> ${pids}; sleep 60`], 300);
    hook.write(warning("a"));
    await hook.finish();
    assert.match(published[0]?.message ?? "", /killed after 0\.3s/);
    const pid = Number(readFileSync(pids, "utf8").trim());
    let alive = true;
    for (let i = 0; i < 100 && alive; i++) {
      try {
        process.kill(pid, 0);
        await new Promise((r) => setTimeout(r, 20));
      } catch {
        alive = false;
      }
    }
    assert.equal(alive, false, "the grandchild went with the group");
  });

  it("what can never run is refused at start: a missing program, an unterminated quote", () => {
    assert.throws(() => checkHookProgram("--on-verdict", ["halfopen-no-such-program"]), { code: "HALFOPEN_BAD_USAGE", message: /"halfopen-no-such-program" is not an executable on PATH/ });
    assert.throws(() => checkHookProgram("--on-verdict", ["/nonexistent/notify"]), { code: "HALFOPEN_BAD_USAGE", message: /is not an executable file/ });
    const plain = join(mkdtempSync(join(tmpdir(), "halfopen-hook-")), "plain");
    writeFileSync(plain, "#!/bin/sh\n", { mode: 0o644 });
    assert.throws(() => checkHookProgram("--on-verdict", [plain]), { code: "HALFOPEN_BAD_USAGE" }, "not executable");
    checkHookProgram("--on-verdict", ["sh", "-c", "true"]);
    checkHookProgram("--on-verdict", [process.execPath]);
    assert.throws(() => hookArgv("--on-verdict", `notify "ops team`), /the double quote is never closed/);
    assert.throws(() => hookArgv("--on-verdict", `notify 'ops`), /the single quote is never closed/);
    assert.deepEqual(hookArgv("--on-verdict", `notify "a \\" b" 'c"d'`), ["notify", 'a " b', 'c"d']);
  });

  it("keeps at most maxQueue records waiting, dropping the oldest and saying so once", async () => {
    const published: WarningItem[] = [];
    const hook = new HookSink({
      option: "--on-test",
      argv: node("setTimeout(() => {}, 200)"),
      timeoutMs: 5000,
      maxQueue: 2,
      publish: (item) => {
        if (item.kind === "warning") published.push(item);
      },
      select: (item) => (item.kind === "stored" ? { id: item.id } : undefined),
    });
    for (let id = 1; id <= 6; id++) hook.write({ kind: "stored", id, runIncident: id, state: "closed" });
    assert.equal(hook.stats.dropped, 3, "one runs, two wait, three are dropped");
    assert.equal(published.length, 1);
    hook.close();
  });
});
