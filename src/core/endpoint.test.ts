import { test } from "node:test";
import assert from "node:assert/strict";
import { formatEndpoint, formatIPv4, formatIPv6 } from "./endpoint.js";

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
