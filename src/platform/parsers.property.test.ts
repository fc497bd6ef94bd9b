/**
 * Every parser of OS output, fed random text, random bytes and every
 * truncation of its real fixtures: never throws, and a truncated input never
 * yields more rows than the whole one.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import fc from "fast-check";
import { parseProcNetTcp } from "./linux/proc-net-tcp.js";
import { parseLsofF, parseNetstatAnv } from "./macos/parse.js";
import { parseNetTcpConnectionJson, parseNetstatAno, parseTasklistCsv, parseWevtutil4226 } from "./windows/parse.js";
import { fixtureText } from "../../test/support/fixtures.js";

const count = (v: unknown): number => {
  if (Array.isArray(v)) return v.length;
  if (v instanceof Map) return v.size;
  const o = v as { rows?: unknown[] };
  return o.rows?.length ?? 0;
};

const PARSERS: [string, (t: string) => unknown, string[]][] = [
  ["proc/net/tcp", (t) => parseProcNetTcp(t).rows, ["linux/proc/net-tcp.txt", "linux/proc/net-tcp6.txt"]],
  ["netstat -ano", (t) => parseNetstatAno(t).value, ["windows/netstat-ano-win10.txt", "windows/netstat-ano-de.txt", "windows/netstat-ano-fr.txt", "windows/netstat-anob-xp-sp2.txt"]],
  ["tasklist", (t) => parseTasklistCsv(t).value, ["windows/tasklist-csv.txt"]],
  ["Get-NetTCPConnection", (t) => parseNetTcpConnectionJson(t, 0).value, ["windows/get-nettcpconnection-ps51.json"]],
  ["wevtutil", (t) => parseWevtutil4226(t).value, ["windows/wevtutil-4226.xml"]],
  ["lsof -F", (t) => parseLsofF(t).value, ["macos/lsof-F.txt"]],
  ["netstat -anv", (t) => parseNetstatAnv(t).value, ["macos/netstat-anv-pid.txt", "macos/netstat-anv-process-pid.txt"]],
];

for (const [name, parse, fixtures] of PARSERS) {
  test(`${name}: random text and bytes never throw`, () => {
    const line = fc.oneof(fc.string(), fc.constantFrom(...fixtures.flatMap((f) => fixtureText(f).split("\n"))));
    fc.assert(
      fc.property(fc.array(line, { maxLength: 20 }), fc.uint8Array({ maxLength: 300 }), (lines, bytes) => {
        parse(lines.join("\n"));
        parse(Buffer.from(bytes).toString("latin1"));
      }),
      { numRuns: 300 },
    );
  });

  test(`${name}: every truncation of the fixtures parses without throwing, never to more rows`, () => {
    for (const f of fixtures) {
      const text = fixtureText(f);
      const full = count(parse(text));
      assert.ok(full > 0, `${f} has rows`);
      for (let i = 0; i <= text.length; i++) assert.ok(count(parse(text.slice(0, i))) <= full, `${f} cut at ${i}`);
    }
  });
}

test("a mutated line is either read or counted as skipped, never lost silently", () => {
  const text = fixtureText("windows/netstat-ano-win10-syn-sent.txt");
  fc.assert(
    fc.property(fc.nat({ max: text.length - 1 }), fc.string({ minLength: 1, maxLength: 3 }), (at, junk) => {
      const mutated = text.slice(0, at) + junk + text.slice(at + 1);
      const tcpLines = mutated.split(/\r?\n/).filter((l) => /^\s*TCP\s/i.test(l)).length;
      const r = parseNetstatAno(mutated);
      assert.equal(r.value.length + r.skipped, tcpLines);
    }),
    { numRuns: 500 },
  );
});
