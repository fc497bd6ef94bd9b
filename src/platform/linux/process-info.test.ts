/**
 * ProcessInfoCache on a /proc tree written by the test (from the captured
 * status-thread.txt fixture): a process being reaped (Tgid 0), a megabyte
 * command line, a process gone before it could be read.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { MAX_PROCESS_TEXT_BYTES } from "../../core/process-text.js";
import { ProcessInfoCache } from "./process-info.js";

const FIXTURE = new URL("../../../test/fixtures/linux/proc/status-thread.txt", import.meta.url);
const STATUS = readFileSync(FIXTURE, "utf8");

function procTree(): string {
  return mkdtempSync(join(tmpdir(), "halfopen-proc-"));
}

/** A process directory: status from the fixture with this Tgid/Pid, plus cmdline and stat. */
function writeProcess(root: string, pid: number, tgid: number, cmdline: Buffer | string = "node\0x.js\0"): void {
  const dir = join(root, String(pid));
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, "status"), STATUS.replace(/^Tgid:\t\d+$/m, `Tgid:\t${tgid}`).replace(/^Pid:\t\d+$/m, `Pid:\t${pid}`));
  writeFileSync(join(dir, "cmdline"), cmdline);
  writeFileSync(join(dir, "comm"), "node\n");
  writeFileSync(join(dir, "stat"), `${pid} (node) S 1 ${pid} ${pid} 0 -1 4194304 1 0 0 0 0 0 0 0 20 0 1 0 777 1000 10 0\n`);
}

test("Tgid 0 (a process being reaped) is 'gone', never pid 0: two such processes stay apart", () => {
  const root = procTree();
  try {
    writeProcess(root, 5001, 0);
    writeProcess(root, 5002, 0);
    const cache = new ProcessInfoCache({ procRoot: root, passwdPath: "/nonexistent" });
    const a = cache.resolve(5001);
    const b = cache.resolve(5002);
    assert.deepEqual([a.pid, a.partial, b.pid, b.partial], [5001, true, 5002, true]);
    assert.equal(a.name, "?");
    assert.equal(cache.awaitsName(5001), true);
    // The exit record names it; the same object is shared with the attempts already recorded.
    cache.nameFromExit(5001, "bash");
    assert.equal(a.name, "bash");
    assert.equal(cache.awaitsName(5001), false);
  } finally {
    rmSync(root, { recursive: true });
  }
});

test("a live process is read whole; a megabyte command line is capped and marked truncated", () => {
  const root = procTree();
  try {
    writeProcess(root, 6001, 6001);
    const huge = Buffer.from(["node", "server.js", ..."x".repeat(1_500_000).match(/.{1,100000}/g)!].join("\0") + "\0");
    writeProcess(root, 6002, 6002, huge);
    const cache = new ProcessInfoCache({ procRoot: root, passwdPath: "/nonexistent" });
    const small = cache.resolve(6001);
    assert.deepEqual([small.pid, small.cmdline, small.truncated, small.partial, small.startTime], [6001, ["node", "x.js"], undefined, undefined, 777]);
    const big = cache.resolve(6002);
    assert.deepEqual(big.truncated, ["cmdline"]);
    assert.deepEqual(big.cmdline?.slice(0, 2), ["node", "server.js"]);
    assert.ok(Buffer.byteLength(big.cmdline?.join("\0") ?? "") <= MAX_PROCESS_TEXT_BYTES);
  } finally {
    rmSync(root, { recursive: true });
  }
});

test("a process gone before /proc was read is partial, with the event's pid", () => {
  const cache = new ProcessInfoCache({ procRoot: "/nonexistent-proc", passwdPath: "/nonexistent" });
  assert.deepEqual(cache.resolve(7001), { pid: 7001, name: "?", partial: true });
  assert.equal(cache.fdFailureNote(), undefined, "a missing process is not a descriptor problem");
});
