import assert from "node:assert/strict";
import { test } from "node:test";
import fc from "fast-check";
import { RecentMap } from "./recent-map.js";

test("RecentMap answers as a Map does, whatever the order of gets, sets, deletes and clears", () => {
  const op = fc.oneof(
    fc.record({ op: fc.constant("get" as const), key: fc.integer({ min: 0, max: 4 }) }),
    fc.record({ op: fc.constant("set" as const), key: fc.integer({ min: 0, max: 4 }), value: fc.option(fc.integer(), { nil: undefined }) }),
    fc.record({ op: fc.constant("delete" as const), key: fc.integer({ min: 0, max: 4 }) }),
    fc.record({ op: fc.constant("clear" as const) }),
  );
  fc.assert(
    fc.property(fc.array(op, { maxLength: 60 }), (ops) => {
      const recent = new RecentMap<number, number | undefined>();
      const plain = new Map<number, number | undefined>();
      for (const o of ops) {
        if (o.op === "get") assert.equal(recent.get(o.key), plain.get(o.key));
        else if (o.op === "set") {
          recent.set(o.key, o.value);
          plain.set(o.key, o.value);
        } else if (o.op === "delete") assert.equal(recent.delete(o.key), plain.delete(o.key));
        else {
          recent.clear();
          plain.clear();
        }
        assert.deepEqual([...recent], [...plain]);
      }
    }),
  );
});
