/**
 * `halfopen ls` against the tools users run today, on the same 15,000
 * half-open sockets, in the same run: `ss -tanp state syn-sent`, `netstat
 * -tanp` and `lsof -nP -iTCP -sTCP:SYN_SENT` (-nP: no DNS in the lab). Each
 * command runs inside the lab namespace (ss and netstat see only their own
 * namespace), rounds alternate the commands, medians are reported.
 * Goal (issue 3): halfopen ls no slower than ss -tanp.
 */
import { execFileSync, spawn, spawnSync } from "node:child_process";
import { once } from "node:events";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import { createLab, destroyLab, labSkipReason, LAB_ADDRESS, DROPPED_RANGE } from "../test/integration/lab.js";

const REPO = fileURLToPath(new URL("../", import.meta.url));
const log = (s: string) => process.stderr.write(`bench: ls: ${s}\n`);

export function lsBenchSkipReason(): string | undefined {
  const lab = labSkipReason();
  if (lab) return lab;
  for (const tool of ["ss", "netstat", "lsof", "prlimit"]) {
    if (spawnSync("which", [tool]).status !== 0) return `needs ${tool} (Debian: iproute2, net-tools, lsof, util-linux)`;
  }
  return undefined;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)] as number;
}

export async function runLsBench(quick: boolean): Promise<{ markdown: string; json: object }> {
  const count = quick ? 3000 : 15_000;
  const rounds = quick ? 3 : 7;
  const lab = createLab("hobenchls");
  try {
    execFileSync("ip", ["netns", "exec", lab.name, "sysctl", "-qw", "net.ipv4.tcp_syn_retries=8"]);
    const holder = spawn("ip", ["netns", "exec", lab.name, "prlimit", `--nofile=${count + 1000}`, process.execPath, `${REPO}bench/ls-holder.mjs`, JSON.stringify({ host: LAB_ADDRESS, count, firstPort: DROPPED_RANGE[0], lastPort: DROPPED_RANGE[1] })], { stdio: ["ignore", "pipe", "inherit"] });
    const ready = await new Promise<{ pid: number; connecting: number }>((resolve) => {
      createInterface({ input: holder.stdout! }).once("line", (l) => resolve(JSON.parse(l) as { pid: number; connecting: number }));
    });
    log(`holder pid ${ready.pid}: ${ready.connecting} connects in flight`);
    const ns = ["ip", "netns", "exec", lab.name];
    const commands: [string, string[]][] = [
      ["halfopen ls", [...ns, process.execPath, `${REPO}dist/cli/main.js`, "ls"]],
      ["halfopen ls --json", [...ns, process.execPath, `${REPO}dist/cli/main.js`, "ls", "--json"]],
      ["ss -tanp state syn-sent", [...ns, "ss", "-tanp", "state", "syn-sent"]],
      ["netstat -tanp", [...ns, "netstat", "-tanp"]],
      ["lsof -nP -iTCP -sTCP:SYN_SENT", [...ns, "lsof", "-nP", "-iTCP", "-sTCP:SYN_SENT"]],
      ["ip netns exec true (anchor: the wrapper alone)", [...ns, "true"]],
      ["node -e 0 (anchor: Node start)", [...ns, process.execPath, "-e", "0"]],
    ];
    const times = new Map<string, number[]>(commands.map(([n]) => [n, []]));
    let counted = -1;
    for (let r = 0; r < rounds; r++) {
      for (const [name, argv] of commands) {
        const t0 = process.hrtime.bigint();
        const out = spawnSync(argv[0] as string, argv.slice(1), { encoding: "utf8", maxBuffer: 512 * 1024 * 1024 });
        const ms = Number(process.hrtime.bigint() - t0) / 1e6;
        if (out.status !== 0 && !name.startsWith("lsof")) throw new Error(`${name} failed: ${out.stderr}`);
        times.get(name)?.push(ms);
        if (name === "halfopen ls --json") counted = (JSON.parse(out.stdout) as { hostHalfOpen: number }).hostHalfOpen;
      }
      log(`round ${r + 1}/${rounds}`);
    }
    holder.kill("SIGTERM");
    if (counted !== ready.connecting) log(`WARNING: halfopen counted ${counted} half-open host-wide, the holder has ${ready.connecting}: other SYN_SENT sockets on this host distort the comparison`);
    await once(holder, "exit");
    const med = Object.fromEntries([...times].map(([n, xs]) => [n, median(xs)]));
    const ss = med["ss -tanp state syn-sent"] as number;
    const rows = commands.map(([n]) => `| \`${n}\` | ${((med[n] as number) / 1000).toFixed(3)} s | ${((med[n] as number) / ss).toFixed(2)} |`);
    const ratio = (med["halfopen ls"] as number) / ss;
    const markdown = [
      `## \`halfopen ls\` with ${count.toLocaleString("en")} half-open sockets (${new Date().toISOString().slice(0, 10)})`,
      "",
      `One process in the lab namespace held ${ready.connecting.toLocaleString("en")} connects in SYN_SENT (SYNs dropped by nftables); \`halfopen ls --json\` counted ${counted.toLocaleString("en")}. Every command ran inside that namespace (\`ip netns exec\`), ${rounds} rounds alternating the commands; median wall time. halfopen ran from \`dist/\` (Node start included).`,
      "",
      "| command | median | ratio to `ss -tanp` |",
      "|---|---:|---:|",
      ...rows,
      "",
      `Goal: \`halfopen ls\` no slower than \`ss -tanp\`: ratio **${ratio.toFixed(2)}** (${ratio <= 1 ? "met" : "not met"}).`,
    ].join("\n");
    return { markdown, json: { count, connecting: ready.connecting, counted, rounds, times: Object.fromEntries(times), medians: med } };
  } finally {
    destroyLab(lab);
  }
}
