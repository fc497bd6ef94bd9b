/**
 * The runnable examples under examples/ still run and print what the docs
 * say (they import "halfopen/limiter", i.e. the built dist/).
 */
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { describe, it } from "node:test";
import { fileURLToPath } from "node:url";

const REPO = fileURLToPath(new URL("../", import.meta.url));
const run = (file: string) => execFileSync(process.execPath, ["--import", "tsx", `examples/${file}`], { cwd: REPO, encoding: "utf8", timeout: 30_000 });

describe("examples", () => {
  it("limiter-basics.ts connects 40 times with at most 5 in flight", () => {
    const out = run("limiter-basics.ts");
    assert.match(out, /^limit reached: 5 connects in flight \(max 5\), 1 queued$/m);
    assert.match(out, /^replies: 40\/40$/m);
    assert.match(out, /^established 40, failed 0, peak in flight 5, had to queue \d+$/m);
  });

  it("limiter-fetch.ts fetches through the limiter", () => {
    const out = run("limiter-fetch.ts");
    assert.match(out, /^fetch: 10 responses, first: "you asked for \/page\/0"$/m);
    assert.match(out, /^http\.get: "you asked for \/agent"$/m);
    assert.match(out, /^connections \d+, peak in flight [12] \(max 2\)$/m);
  });
});
