import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { CLI, REPO } from "./integration/watch-process.js";

function cli(...args: string[]) {
  return spawnSync(process.execPath, ["--import", "tsx", CLI, ...args], { cwd: REPO, encoding: "utf8" });
}

test("bad values exit 2 with the option, the value and a stable code, no stack", () => {
  for (const [args, pattern] of [
    [["watch", "--limit", "x"], /Cannot use --limit "x": expected a whole number from 0 to 1000000 \[HALFOPEN_BAD_USAGE\]/],
    [["watch", "--quiet", "-1"], /Cannot use --quiet "-1"/],
    [["watch", "--source", "dtrace"], /Cannot use --source "dtrace": expected one of tracefs/],
    [["watch", "--pid", "0"], /Cannot use --pid "0"/],
  ] as const) {
    const r = cli(...args);
    assert.equal(r.status, 2, `${args.join(" ")}: ${r.stderr}`);
    assert.match(r.stderr, pattern);
    assert.doesNotMatch(r.stderr, /\n\s+at /);
  }
  const unknown = cli("watch", "--bogus");
  assert.equal(unknown.status, 2);
  assert.match(unknown.stderr, /unknown option '--bogus'/);
});

test("--help documents the watch options and exit codes", () => {
  const r = cli("watch", "--help");
  assert.equal(r.status, 0);
  for (const opt of ["--limit", "--quiet", "--interval", "--pid", "--comm", "--json", "--source", "--duration"]) assert.match(r.stdout, new RegExp(opt));
  assert.match(r.stdout, /Exit codes: 0 ok, 1 failure, 2 bad usage, 3 needs privileges or a tool/);
  assert.match(r.stdout, /--poll/);
});

test("ls: bad combinations exit 2 with a stable code; --help documents the options", () => {
  for (const [args, pattern] of [
    [["ls", "--json", "--csv"], /Cannot use --json and --csv together/],
    [["ls", "--source", "tracefs"], /Cannot use --source "tracefs" with ls/],
    [["ls", "--source", "dtrace"], /Cannot use --source "dtrace"/],
    [["ls", "--sample", "x"], /Cannot use --sample "x"/],
  ] as const) {
    const r = cli(...args);
    assert.equal(r.status, 2, `${args.join(" ")}: ${r.stderr}`);
    assert.match(r.stderr, pattern);
    assert.match(r.stderr, /\[HALFOPEN_BAD_USAGE\]/);
    assert.doesNotMatch(r.stderr, /\n\s+at /);
  }
  const help = cli("ls", "--help");
  assert.equal(help.status, 0);
  for (const opt of ["--all-states", "--json", "--csv", "--source", "--pid", "--comm"]) assert.match(help.stdout, new RegExp(opt));
  for (const line of help.stdout.split("\n")) assert.ok(line.length <= 80, `help fits 80 columns: ${line}`);
});

test("ls --json always has a processes array, even with nothing half-open", () => {
  const r = cli("ls", "--json", "--pid", "999999999");
  assert.equal(r.status, 0, r.stderr);
  const j = JSON.parse(r.stdout) as { processes: unknown[]; hostHalfOpen: number; source: string };
  assert.deepEqual(j.processes, []);
  assert.equal(typeof j.hostHalfOpen, "number");
  assert.equal(j.source, "procfs");
});
