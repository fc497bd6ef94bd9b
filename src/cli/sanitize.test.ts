import { test } from "node:test";
import assert from "node:assert/strict";
import fc from "fast-check";
import { fit, forTerminal } from "./sanitize.js";

test("control characters and bidi overrides become visible escapes", () => {
  assert.equal(forTerminal("evil\x1b[2J\rname"), "evil\\x1b[2J\\x0dname");
  assert.equal(forTerminal("a\u202eb"), "a\\u202eb");
  assert.equal(forTerminal("\x9b31m"), "\\x9b31m");
  assert.equal(forTerminal("plain name-1.2 (x)"), "plain name-1.2 (x)");
});

test("no output of forTerminal contains a control character", () => {
  fc.assert(
    fc.property(fc.string({ unit: "binary" }), (s) => {
      // eslint-disable-next-line no-control-regex
      assert.doesNotMatch(forTerminal(s), /[\u0000-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069]/);
    }),
  );
});

test("fit cuts to the width", () => {
  assert.equal(fit("abcdef", 4), "abc…");
  assert.equal(fit("abc", 4), "abc");
});
