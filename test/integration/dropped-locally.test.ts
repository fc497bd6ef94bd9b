/**
 * Why a SYN went unanswered (root, two-namespace lab): a connect whose SYN an
 * nftables rule in its own namespace drops ends `dropped-locally`, with the
 * kernel's reason (skb:kfree_skb, NETFILTER_DROP); one whose SYN the far
 * namespace drops ends `timeout`, as before. Under CI a missing tool fails.
 */
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { test } from "node:test";
import { DROPPED_FROM, TARGET_ADDRESS, describeRawLab } from "./raw-lab.js";
import { REPO, WatchProcess, runLabWorkload } from "./watch-process.js";

const LOCAL_PORT = 7777;

describeRawLab("SYNs dropped on this host (tracefs, two-namespace lab)", { file: "integration/dropped-locally", prefix: "hodrop", needs: [] }, (lab) => {
  test("dropped by a rule in the connecting namespace: dropped-locally (NETFILTER_DROP); dropped at the far end: timeout", async () => {
    execFileSync("ip", ["netns", "exec", lab.scanner, "nft", "-f", "-"], {
      input: `table inet halfopen_droplab {\n  chain output {\n    type filter hook output priority 0; policy accept;\n    tcp dport ${LOCAL_PORT} tcp flags & (syn | ack) == syn drop\n  }\n}\n`,
    });
    // One retransmission, then the kernel gives up: about 3 s.
    execFileSync("ip", ["netns", "exec", lab.scanner, "sysctl", "-q", "-w", "net.ipv4.tcp_syn_retries=1"]);
    const w = new WatchProcess(["--interval", "0", "--limit", "4", "--quiet", "1", "--netns", lab.scanner, "--no-store", "--no-raw-senders"]);
    try {
      await w.waitFor((l) => l.type === "start");
      const spec = { title: "ho-dropper", host: TARGET_ADDRESS, ports: [LOCAL_PORT, LOCAL_PORT, LOCAL_PORT, DROPPED_FROM, DROPPED_FROM + 1, DROPPED_FROM + 2], holdMs: 6000 };
      const job = await runLabWorkload<{ results: Record<string, string> }>({ name: lab.scanner }, [`${REPO}test/integration/connector.mjs`, JSON.stringify(spec)]);
      const done = await job.done;
      assert.ok(Object.values(done.results).every((r) => r === "ETIMEDOUT"), `every connect timed out for the program: ${JSON.stringify(done.results)}`);
      const closed = await w.waitFor((l) => l.type === "incident", 20_000);
      const p = (closed.processes as { pid: number; outcomes: Record<string, number>; sample: { dst: string; outcome: string; dropReason?: string }[] }[]).find((x) => x.pid === job.pid);
      assert.ok(p, "the connector is named");
      assert.equal(p.outcomes["dropped-locally"], 3);
      assert.equal(p.outcomes.timeout, 3);
      for (const s of p.sample) {
        if (s.dst.endsWith(`:${LOCAL_PORT}`)) assert.deepEqual([s.outcome, s.dropReason], ["dropped-locally", "NETFILTER_DROP"]);
        else assert.deepEqual([s.outcome, s.dropReason], ["timeout", undefined]);
      }
    } finally {
      await w.stop();
    }
  });
});
