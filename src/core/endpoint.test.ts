import { test } from "node:test";
import assert from "node:assert/strict";
import fc from "fast-check";
import { EndpointCache, EndpointMemo, endpointKey, formatEndpoint, formatIPv4, formatIPv6, keyOf, keyedEndpoint } from "./endpoint.js";

test("formatIPv6 follows RFC 5952", () => {
  const b = (...groups: number[]) => new Uint8Array(groups.flatMap((g) => [g >> 8, g & 0xff]));
  assert.equal(formatIPv6(b(0, 0, 0, 0, 0, 0, 0, 1)), "::1");
  assert.equal(formatIPv6(b(0, 0, 0, 0, 0, 0, 0, 0)), "::");
  assert.equal(formatIPv6(b(0x2001, 0xdb8, 0, 0, 1, 0, 0, 1)), "2001:db8::1:0:0:1");
  assert.equal(formatIPv6(b(0x2001, 0xdb8, 0, 1, 1, 1, 1, 1)), "2001:db8:0:1:1:1:1:1");
  assert.equal(formatIPv6(b(0xfe80, 0, 0, 0, 0xabcd, 0, 0, 0)), "fe80::abcd:0:0:0");
  assert.equal(formatIPv6(b(0, 0, 0, 0, 0, 0xffff, 0xc612, 0x0001)), "::ffff:198.18.0.1");
});

test("formatIPv4 and formatEndpoint", () => {
  assert.equal(formatIPv4(new Uint8Array([9, 198, 18, 0, 1]), 1), "198.18.0.1");
  assert.equal(formatEndpoint({ address: "::1", port: 9 }), "[::1]:9");
  assert.equal(formatEndpoint({ address: "127.0.0.1", port: 80 }), "127.0.0.1:80");
});

test("endpointKey is formatEndpoint, kept: any address and port, before and after the cache starts over", () => {
  fc.assert(
    fc.property(fc.oneof(fc.ipV4(), fc.ipV6()), fc.integer({ min: 0, max: 65_535 }), (address, port) => {
      assert.equal(endpointKey(address, port), formatEndpoint({ address, port }));
      assert.equal(endpointKey(address, port), formatEndpoint({ address, port }));
    }),
  );
  // More keys than it keeps (65,536): still right across the restart.
  for (let i = 0; i < 70_000; i++) {
    const address = `198.18.${(i >> 8) & 255}.${i & 255}`;
    assert.equal(endpointKey(address, i % 1000), `${address}:${i % 1000}`);
  }
  assert.equal(endpointKey("::1", 443), "[::1]:443");
});

test("EndpointMemo makes each value once, and keeps at most max (then starts over)", () => {
  let made = 0;
  const memo = new EndpointMemo((address, port) => ({ address, port, n: ++made }), 3);
  const a = memo.get("198.18.0.1", 80);
  assert.equal(memo.get("198.18.0.1", 80), a, "the same object again");
  memo.get("198.18.0.1", 81);
  memo.get("::1", 80);
  assert.equal(made, 3);
  memo.get("198.18.0.2", 80); // a fourth: started over
  assert.notEqual(memo.get("198.18.0.1", 80), a, "made again after the restart");
  assert.equal(made, 5);
});

test("EndpointMemo answers right when addresses alternate (its last address kept at hand) and after it starts over", () => {
  let made = 0;
  const memo = new EndpointMemo((address, port) => ({ address, port, n: ++made }), 4);
  const src = memo.get("198.18.0.1", 40000);
  const dst = memo.get("198.18.0.2", 80);
  for (let i = 0; i < 3; i++) {
    assert.equal(memo.get("198.18.0.1", 40000), src);
    assert.equal(memo.get("198.18.0.2", 80), dst);
  }
  assert.deepEqual({ ...memo.get("198.18.0.2", 81), n: 0 }, { address: "198.18.0.2", port: 81, n: 0 });
  assert.deepEqual({ ...memo.get("198.18.0.1", 81), n: 0 }, { address: "198.18.0.1", port: 81, n: 0 });
  assert.equal(made, 4);
  // Full: the next new one starts over, and the address kept at hand is the new map's, not the old one's.
  const again = memo.get("198.18.0.1", 82);
  assert.equal(again.port, 82);
  assert.equal(memo.get("198.18.0.1", 82), again);
  assert.notEqual(memo.get("198.18.0.1", 40000), src, "made again after the restart");
  assert.equal(made, 6);
});

test("keyedEndpoint carries its endpointKey, and only keyOf sees it: not JSON, not a spread, not deepEqual", () => {
  fc.assert(
    fc.property(fc.oneof(fc.ipV4(), fc.ipV6()), fc.integer({ min: 0, max: 65535 }), (address, port) => {
      const keyed = keyedEndpoint(address, port);
      assert.equal(keyOf(keyed), formatEndpoint({ address, port }));
      assert.equal(keyOf({ address, port }), keyOf(keyed), "a plain endpoint's key comes from the memo, the same");
      assert.equal(JSON.stringify(keyed), JSON.stringify({ address, port }));
      assert.deepEqual({ ...keyed }, { address, port });
      assert.deepEqual(keyed, { address, port });
      assert.ok(Object.isFrozen(keyed));
    }),
  );
});

test("EndpointCache: a keyed endpoint's value until another takes its slot; a plain endpoint is never cached", () => {
  const cache = new EndpointCache<number>(2);
  const [a, b, c] = [keyedEndpoint("198.18.0.1", 1), keyedEndpoint("198.18.0.1", 2), keyedEndpoint("198.18.0.1", 3)];
  cache.set(a, 1);
  cache.set(b, 2);
  assert.equal(cache.get(a), 1);
  assert.equal(cache.get(b), 2);
  cache.set(c, 3); // two slots: c takes a's (consecutive ids)
  assert.equal(cache.get(c), 3);
  assert.equal(cache.get(a), undefined);
  assert.equal(cache.get(b), 2);
  const plain = { address: "198.18.0.1", port: 2 };
  cache.set(plain, 9);
  assert.equal(cache.get(plain), undefined);
  assert.equal(cache.get(b), 2, "a plain endpoint equal to b is not b");
  assert.throws(() => new EndpointCache(3), RangeError);
});
