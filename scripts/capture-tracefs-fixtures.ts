/**
 * Captures the tracefs fixtures under test/fixtures/linux/tracefs/ from the
 * running kernel: the format files of the events we decode, header_page, and
 * raw ring-buffer pages holding a known workload, made in a network namespace
 * this script creates (198.18.0.1 with SYNs to port 9 dropped by nftables):
 * one established, one refused (port 7), one dropped over IPv4 and one over
 * IPv6 (::1 port 9), closed by the process after 1.2 s (one SYN retransmit).
 *
 * Needs root, iproute2, nftables. Usage: node --import tsx scripts/capture-tracefs-fixtures.ts
 */
import { mkdirSync, writeFileSync, readFileSync, readdirSync, rmdirSync, openSync, readSync, closeSync, constants } from "node:fs";
import { execFileSync } from "node:child_process";
import { ensureTracefs } from "../src/platform/linux/tracefs-source.js";
import { createLab, destroyLab, runInLab } from "../test/integration/lab.js";

const out = new URL("../test/fixtures/linux/tracefs/", import.meta.url).pathname;
mkdirSync(out, { recursive: true });
const root = ensureTracefs();
const events = ["sock/inet_sock_set_state", "tcp/tcp_receive_reset", "tcp/tcp_retransmit_skb", "sched/sched_process_exit", "sched/sched_process_exec"];
for (const e of events) writeFileSync(`${out}/${e.replace("/", "__")}.format`, readFileSync(`${root}/events/${e}/format`, "utf8"));
writeFileSync(`${out}/header_page`, readFileSync(`${root}/events/header_page`, "utf8"));

const dir = `${root}/instances/halfopen-capture`;
mkdirSync(dir);
try {
  const w = (f: string, v: string) => writeFileSync(`${dir}/${f}`, v);
  w("trace_clock", "mono");
  w("events/sock/inet_sock_set_state/filter", "protocol == 6 && (newstate == 2 || oldstate == 2)");
  w("events/sock/inet_sock_set_state/enable", "1");
  w("events/tcp/tcp_receive_reset/enable", "1");
  w("events/tcp/tcp_retransmit_skb/filter", "state == 2");
  w("events/tcp/tcp_retransmit_skb/enable", "1");
  const lab = createLab("hocapture");
  try {
    runInLab(lab, "node", [
      "-e",
      `const net=require("net");const s=net.createServer(c=>c.end()).listen(8080,"198.18.0.1",()=>{
        net.connect(8080,"198.18.0.1").on("connect",function(){this.end();s.close()});
        net.connect(7,"198.18.0.1").on("error",()=>{});
        const a=net.connect(9,"198.18.0.1").on("error",()=>{});
        const b=net.connect(9,"::1").on("error",()=>{});
        setTimeout(()=>{a.destroy();b.destroy()},1200)})`,
    ]);
  } finally {
    destroyLab(lab);
  }
  w("tracing_on", "0");
  const notes: string[] = [];
  for (const cpu of readdirSync(`${dir}/per_cpu`)) {
    const fd = openSync(`${dir}/per_cpu/${cpu}/trace_pipe_raw`, constants.O_RDONLY | constants.O_NONBLOCK);
    for (let i = 0; ; i++) {
      const page = Buffer.alloc(4096);
      let n = 0;
      try {
        n = readSync(fd, page, 0, page.length, null);
      } catch {
        break;
      }
      if (n <= 0) break;
      writeFileSync(`${out}/${cpu}-page${i}.bin`, page.subarray(0, n));
      notes.push(`${cpu}-page${i}.bin`);
    }
    closeSync(fd);
  }
  writeFileSync(
    `${out}/README.md`,
    `# tracefs fixtures\n\nCaptured by \`scripts/capture-tracefs-fixtures.ts\` on Linux ${execFileSync("uname", ["-r"], { encoding: "utf8" }).trim()} (x86_64), as root.\n\n` +
      "- `*.format`: `events/<system>/<event>/format` of the events halfopen decodes (`/` replaced by `__`).\n" +
      "- `header_page`: `events/header_page` (layout of a ring-buffer page).\n" +
      "- `cpuN-pageK.bin`: pages read from `per_cpu/cpuN/trace_pipe_raw` of an instance with the filters halfopen uses, while a\n" +
      "  process in a test network namespace made: one established connect (198.18.0.1:8080), one refused (198.18.0.1:7),\n" +
      "  one to 198.18.0.1:9 and one to [::1]:9 whose SYNs nftables dropped (each retransmitted once, then closed by the process).\n" +
      `\nPages: ${notes.join(", ")}\n`,
  );
} finally {
  rmdirSync(dir);
}
