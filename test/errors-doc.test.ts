/**
 * docs/errors.md lists every error code halfopen has, and no code it does not
 * have: a code added to src/errors.ts without its row fails here.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { ErrorCodes } from "../src/errors.js";

test("docs/errors.md documents exactly the codes in src/errors.ts", () => {
  const doc = readFileSync(new URL("../docs/errors.md", import.meta.url), "utf8");
  const rows = new Set([...doc.matchAll(/^\| `(HALFOPEN_[A-Z_]+)` \|/gm)].map((m) => m[1]));
  const codes = new Set(Object.values(ErrorCodes));
  assert.deepEqual([...codes].filter((c) => !rows.has(c)), [], "codes without a row in docs/errors.md");
  assert.deepEqual([...rows].filter((c) => !codes.has(c as never)), [], "rows for codes that do not exist");
});
