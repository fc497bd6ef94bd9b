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
  const rounds = quick ? 3 : 11;
  const lab = createLab("hobenchls");
  try {
    execFileSync("ip", ["netns", "exec", lab.name, "sysctl", "-qw", "net.ipv4.tcp_syn_retries=8"]);
    const holder = spawn("ip", ["netns", "exec", lab.name, "prlimit", `--nofile=${count + 1000}`, process.execPath, `${REPO}bench/ls-holder.mjs`, JSON.stringify({ host: LAB_ADDRESS, count, firstPort: DROPPED_RANGE[0], lastPort: DROPPED_RANGE[1] })], { stdio: ["ignore", "pipe", "inherit"] });
    const ready = await new Promise<{ pid: number; connecting: number }>((resolve) => {
      createInterface({ input: holder.stdout! }).once("line", (l) => resolve(JSON.parse(l) as { pid: number; connecting: number }));
    });
    log(`holder pid ${ready.pid}: ${ready.connecting} connects in flight`);
    const ns = ["ip", "netns", "exec", lab.name];
    const cli = [...ns, process.execPath, `${REPO}dist/cli/main.js`];
    const env = process.env;
    // This machine sets NODE_EXTRA_CA_CERTS, which Node 20 reads and parses
    // at every start (~35 ms here): measure Node-based commands both ways.
    const extraCa = env.NODE_EXTRA_CA_CERTS !== undefined;
    const { NODE_EXTRA_CA_CERTS: _ca, ...envNoCa } = env;
    const commands: [string, string[], NodeJS.ProcessEnv][] = [
      ["halfopen ls", [...cli, "ls"], env],
      ["halfopen ls --json", [...cli, "ls", "--json"], env],
      ["halfopen ls without the native helper (HALFOPEN_NATIVE=0)", [...cli, "ls"], { ...env, HALFOPEN_NATIVE: "0" }],
      ["ss -tanp state syn-sent", [...ns, "ss", "-tanp", "state", "syn-sent"], env],
      ["netstat -tanp", [...ns, "netstat", "-tanp"], env],
      ["lsof -nP -iTCP -sTCP:SYN_SENT", [...ns, "lsof", "-nP", "-iTCP", "-sTCP:SYN_SENT"], env],
      ["ip netns exec true (anchor: the wrapper alone)", [...ns, "true"], env],
      ["node -e 0 (anchor: Node start)", [...ns, process.execPath, "-e", "0"], env],
      ...(extraCa
        ? ([
            ["halfopen ls, NODE_EXTRA_CA_CERTS unset", [...cli, "ls"], envNoCa],
            ["node -e 0, NODE_EXTRA_CA_CERTS unset", [...ns, process.execPath, "-e", "0"], envNoCa],
          ] as [string, string[], NodeJS.ProcessEnv][])
        : []),
    ];
    const times = new Map<string, number[]>(commands.map(([n]) => [n, []]));
    let counted = -1;
    let method = "";
    for (let r = 0; r < rounds; r++) {
      for (const [name, argv, cmdEnv] of commands) {
        const t0 = process.hrtime.bigint();
        const out = spawnSync(argv[0] as string, argv.slice(1), { encoding: "utf8", maxBuffer: 512 * 1024 * 1024, env: cmdEnv });
        const ms = Number(process.hrtime.bigint() - t0) / 1e6;
        if (out.status !== 0 && !name.startsWith("lsof")) throw new Error(`${name} failed: ${out.stderr}`);
        times.get(name)?.push(ms);
        if (name === "halfopen ls --json") ({ hostHalfOpen: counted, method = "" } = JSON.parse(out.stdout) as { hostHalfOpen: number; method?: string });
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
    const verdict = (x: number) => `**${x.toFixed(2)}** (${x <= 1 ? "met" : "not met"})`;
    const caLine = extraCa
      ? [
          "",
          `This machine sets \`NODE_EXTRA_CA_CERTS\` (${env.NODE_EXTRA_CA_CERTS}), which Node 20 loads at every start: \`node -e 0\` takes ${((med["node -e 0 (anchor: Node start)"] as number) - (med["node -e 0, NODE_EXTRA_CA_CERTS unset"] as number)).toFixed(0)} ms longer with it. Without it, as on a machine that does not set it: ratio ${verdict((med["halfopen ls, NODE_EXTRA_CA_CERTS unset"] as number) / ss)}.`,
        ]
      : [];
    const markdown = [
      `## \`halfopen ls\` with ${count.toLocaleString("en")} half-open sockets (${new Date().toISOString().slice(0, 10)})`,
      "",
      `One process in the lab namespace held ${ready.connecting.toLocaleString("en")} connects in SYN_SENT (SYNs dropped by nftables); \`halfopen ls --json\` counted ${counted.toLocaleString("en")}, reading the tables through ${method || "?"}. Every command ran inside that namespace (\`ip netns exec\`), ${rounds} rounds alternating the commands; median wall time. halfopen ran from \`dist/\` (Node start included); it reads every namespace (here the host's and the lab's), ss and netstat only their own.`,
      "",
      "| command | median | ratio to `ss -tanp` |",
      "|---|---:|---:|",
      ...rows,
      "",
      `Goal: \`halfopen ls\` no slower than \`ss -tanp\`: ratio ${verdict(ratio)} on this machine as it is.`,
      ...caLine,
    ].join("\n");
    return { markdown, json: { count, connecting: ready.connecting, counted, method, rounds, extraCaCerts: extraCa, times: Object.fromEntries(times), medians: med } };
  } finally {
    destroyLab(lab);
  }
}
