import assert from "node:assert/strict";
import { mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, it } from "node:test";
import { HookSink, hookArgv } from "./hook-sink.js";
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
    assert.match(hanging.published[0]?.message ?? "", /killed after 0\.3s \(--hook-timeout\)$/);

    const missing = sink(["/nonexistent/halfopen-hook"]);
    missing.hook.write(warning("x"));
    await missing.hook.finish();
    assert.match(missing.published[0]?.message ?? "", /cannot run "\/nonexistent\/halfopen-hook": no such program$/);
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
