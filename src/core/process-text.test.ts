import { test } from "node:test";
import assert from "node:assert/strict";
import fc from "fast-check";
import { UNSAFE_TEXT, argsBytes, capArgs, capText } from "./process-text.js";

test("capText cuts at a character boundary and says so", () => {
  assert.deepEqual(capText("abc", 10), { text: "abc", truncated: false });
  assert.deepEqual(capText("aé€x", 6), { text: "aé€", truncated: true }, "1 + 2 + 3 bytes");
  assert.deepEqual(capText("aé€x", 5), { text: "aé", truncated: true }, "the euro sign would not fit whole");
});

test("capArgs keeps leading arguments whole and cuts the one that overflows", () => {
  assert.deepEqual(capArgs(["node", "x.js"], 100), { args: ["node", "x.js"], truncated: false });
  assert.deepEqual(capArgs(["node", "abcdefghij", "z"], 10), { args: ["node", "abcde"], truncated: true });
});

test("property: capArgs never exceeds its budget and keeps a prefix", () => {
  fc.assert(
    fc.property(fc.array(fc.string({ unit: "grapheme", maxLength: 40 }), { maxLength: 20 }), fc.integer({ min: 0, max: 200 }), (args, max) => {
      const { args: out, truncated } = capArgs(args, max);
      assert.ok(argsBytes(out) - (out.length > 0 ? 1 : 0) <= max, `${argsBytes(out)} > ${max}`);
      for (let i = 0; i < out.length - 1; i++) assert.equal(out[i], args[i]);
      if (!truncated) assert.deepEqual(out, args);
    }),
  );
});

test("UNSAFE_TEXT matches controls and bidirectional overrides, not ordinary text", () => {
  const hits = (s: string) => s.match(UNSAFE_TEXT)?.length ?? 0;
  assert.equal(hits("evil\u202etxt.exe\x1b[2J\x7f\x85"), 4);
  assert.equal(hits("naïve-名前 ok"), 0);
});
