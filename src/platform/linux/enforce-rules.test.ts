/**
 * The rules `watch --enforce` installs, as text (installing them needs root
 * and a namespace: test/integration/enforce.test.ts does that with iptables;
 * the nft form is checked by nft itself where it can parse it).
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { test } from "node:test";
import { NFT_TABLE, XT_CHAIN, nftRuleset, xtablesRules } from "./enforce-rules.js";

test("xtables: our own chain, loopback returned unless asked, only the first SYN of new connections, bypass, one jump from OUTPUT", () => {
  const rules = xtablesRules({ queueNum: 4226, loopback: false });
  assert.deepEqual(rules[0], ["-N", XT_CHAIN]);
  assert.deepEqual(rules[1], ["-A", XT_CHAIN, "-o", "lo", "-j", "RETURN"]);
  assert.deepEqual(rules[2], ["-A", XT_CHAIN, "-p", "tcp", "--tcp-flags", "SYN,ACK", "SYN", "-m", "conntrack", "--ctstate", "NEW", "-j", "NFQUEUE", "--queue-num", "4226", "--queue-bypass"]);
  assert.deepEqual(rules.at(-1), ["-I", "OUTPUT", "1", "-j", XT_CHAIN]);
  assert.equal(xtablesRules({ queueNum: 7, loopback: true }).some((r) => r.includes("lo")), false, "--enforce-loopback holds loopback too");
});

test("nft: a table of our own with the same rule, which nft accepts (--check) where it is installed", () => {
  const text = nftRuleset({ queueNum: 4226, loopback: false });
  assert.match(text, new RegExp(`^table inet ${NFT_TABLE} \\{`));
  assert.match(text, /oifname "lo" return/);
  assert.match(text, /tcp flags & \(syn \| ack\) == syn ct state new queue num 4226 bypass/);
  const nft = spawnSync("nft", ["--check", "-f", "-"], { input: text, encoding: "utf8" });
  if (nft.error || process.geteuid?.() !== 0) return; // parsing needs nft and, for --check, root
  // A kernel without nft_queue (these machines) refuses the queue statement, as enforce-rules.ts expects; the syntax is nft's either way.
  assert.ok(nft.status === 0 || /No such file or directory|Operation not supported/.test(nft.stderr), nft.stderr);
});
