/**
 * `halfopen scan`: live hosts and open ports within a half-open budget
 * (src/scanner/). nmap's spellings (-Pn, -sn, -iL, -oX, -oN, -oG, -oA,
 * -T0..-T5, -sT) are accepted: nmapAliases() turns them into the long
 * options before parsing, and --help shows them beside the long ones.
 */
import type { Command, Option } from "commander";
import { ErrorCodes, HalfOpenError } from "../../errors.js";
import { parseShard } from "../../core/scan/targets.js";
import { parseTiming } from "../../core/scan/nmap-timing.js";
import { TOP_TCP_PORTS } from "../../core/scan/top-ports.js";
import { DEFAULT_MAX_HALF_OPEN } from "../../scanner/scan.js";
import { parseDuration } from "../../core/duration.js";
import { parseIntOption, parseSecondsOption } from "../options.js";

export interface ScanCliOptions {
  ports?: string;
  topPorts?: number;
  portScan: boolean;
  timing?: number;
  discovery: boolean;
  discoveryMethod: "auto" | "connect";
  maxHalfOpen: number;
  retries: number;
  exclude?: string[];
  excludeFile?: string[];
  inputList?: string[];
  yes?: boolean;
  json?: boolean;
  csv?: boolean;
  xml?: string;
  outputNormal?: string;
  outputGrepable?: string;
  outputAll?: string;
  banner?: number | true;
  shard?: { index: number; count: number };
  progress: boolean;
  resume?: string;
  every?: number;
  onChange?: string;
  hookTimeout: number;
  db?: string;
  store: boolean;
}

/** nmap's spellings of the long options (shown in --help and the man page beside them). */
export const NMAP_SPELLINGS: Readonly<Record<string, string>> = {
  "--no-discovery": "-Pn",
  "--no-port-scan": "-sn",
  "--input-list": "-iL",
  "--xml": "-oX",
  "--output-normal": "-oN",
  "--output-grepable": "-oG",
  "--output-all": "-oA",
  "--timing": "-T<0-5>",
};

/**
 * nmap's single-dash spellings as halfopen's long options: -Pn, -sn, -iL,
 * -oX/-oN/-oG/-oA, -T4 (or -T 4, -Taggressive); -sT is what every halfopen
 * scan is (connects) and is dropped; -sS and the other raw scan types are
 * refused with a reason.
 */
export function nmapAliases(argv: readonly string[]): string[] {
  const map: Record<string, string> = Object.fromEntries(Object.entries(NMAP_SPELLINGS).map(([long, short]) => [short, long]));
  map["-T"] = "--timing";
  const out: string[] = [];
  for (const [i, a] of argv.entries()) {
    if (i <= 2 || a === "--") {
      out.push(a);
      continue;
    }
    if (a === "-sT") continue;
    if (/^-s[SAWMNFXUYZO]$/.test(a)) throw new HalfOpenError(ErrorCodes.BAD_USAGE, `Cannot use nmap's ${a}: halfopen scans with connect() only (nmap -sT), so every probe is a half-open attempt the budget counts`);
    const timing = /^-T(.+)$/.exec(a);
    if (timing) out.push("--timing", timing[1] as string);
    else out.push(map[a] ?? a);
  }
  return out;
}

/** Shows each option's nmap spelling beside it, in --help and the man page (both print `flags`). */
function withNmapSpellings(options: readonly Option[]): void {
  for (const o of options) {
    const short = o.long === undefined ? undefined : NMAP_SPELLINGS[o.long];
    if (short !== undefined) o.flags = `${short}, ${o.flags}`;
  }
}

function parseTopPorts(v: string): number {
  return parseIntOption("--top-ports", 1, TOP_TCP_PORTS.length)(v);
}

function parseDiscoveryMethod(v: string): "auto" | "connect" {
  if (v !== "auto" && v !== "connect") throw new HalfOpenError(ErrorCodes.BAD_USAGE, `Cannot use --discovery-method "${v}": expected auto or connect`);
  return v;
}

const split = (v: string, prev: string[] | undefined) => [...(prev ?? []), ...v.split(",").map((s) => s.trim()).filter(Boolean)];
const many = (v: string, prev: string[] | undefined) => [...(prev ?? []), v];

const EXAMPLE = `
Targets: addresses, CIDR blocks (198.18.0.0/22, fd00::/120), ranges
(198.18.0.1-40, 198.18.0.1-198.18.1.7) and host names (resolved once).
Default ports: the 20 TCP ports nmap's frequency data finds open most often
(nmap --top-ports 20). Default --max-half-open 10: Windows XP's limit, well
under Linux's SYN-flood thresholds and small home routers' connection
tables, so a scan never trips one; raise it on networks you know.

Scans are stored in the incident database (--db; --no-store to skip), and
each one is compared with the previous stored scan of the same targets and
ports: \`halfopen scans\` lists them, \`halfopen scans diff A B\` compares two.
--every rescans and prints only what changed; --on-change runs a program
(never a shell) with the changes as JSON on its standard input.
--resume FILE keeps a journal of finished hosts: after Ctrl-C or a crash,
the same command (or \`halfopen scan --resume FILE\` alone) scans only the
rest.

nmap's spellings work as nmap's do (-Pn, -sn, -iL, -oX, -oN, -oG, -oA,
-T0..-T5; -sT is every halfopen scan). -T maps to halfopen's budget and
nmap's RTT bounds: T0-T2 one probe at a time every 300 s, 15 s, 0.4 s; T4
and T5 nmap's shorter timeouts and their retries (docs/scanner.md).

Example:
  $ halfopen scan 198.18.0.0/24 -p 22,80,443 --max-half-open 10
  $ halfopen scan -sn 198.18.0.0/24 -oG - | grep Up
  $ halfopen scan 198.18.0.0/24 --top-ports 100 -T4 -oA lab
  $ halfopen scan -Pn 198.18.0.7 -p- --json > host.json
  $ halfopen scan 198.18.0.0/22 -oX lab.xml && ndiff nmap.xml lab.xml
  $ halfopen scan 198.18.0.0/16 --yes --resume big.journal
  $ halfopen scan 198.18.0.0/24 --every 5m --on-change "notify-send scan"`;

function parseEvery(v: string): number {
  const ms = parseDuration("--every", v);
  if (ms < 1000) throw new HalfOpenError(ErrorCodes.BAD_USAGE, `Cannot use --every "${v}": at least 1s between rounds`);
  return ms;
}

export function registerScan(program: Command): void {
  const command = program
    .command("scan")
    .description("find live hosts and open ports with TCP connects, never more than --max-half-open in SYN_SENT")
    .argument("[targets...]", "addresses, CIDR blocks, ranges or host names")
    .option("-p, --ports <list>", "ports: 22,80,8000-8100, or - for all (default: nmap's top 20)")
    .option("--top-ports <n>", `the n ports nmap's frequency data finds open most often (1-${TOP_TCP_PORTS.length})`, parseTopPorts)
    .option("--no-port-scan", "find which hosts are up, scan no port (discovery only)")
    .option("--no-discovery", "scan every address's ports without checking it is up first")
    .option("--discovery-method <how>", "auto: ICMP echo and TCP ACK over raw sockets (root), else a ping socket, else connects; connect: connects to 80 and 443", parseDiscoveryMethod, "auto")
    .option("--max-half-open <n>", "connect attempts in SYN_SENT at once", parseIntOption("--max-half-open", 1, 100_000), DEFAULT_MAX_HALF_OPEN)
    .option("--retries <n>", "attempts again after silence before a port is filtered", parseIntOption("--retries", 0, 20), 1)
    .option("--exclude <list>", "addresses not to scan (comma-separated; repeatable)", split)
    .option("--exclude-file <file>", "addresses not to scan, one per line", many)
    .option("--input-list <file>", "targets from a file, one per line", many)
    .option("--yes", "scan more than 65,536 addresses")
    .option("--json", "one JSON object at the end: hosts that are up, and a summary")
    .option("--csv", "one CSV row per port of each host that is up")
    .option("--xml <file>", "also write nmap XML")
    .option("--output-normal <file>", "also write the text output (hosts and summary, never cut)")
    .option("--output-grepable <file>", "also write nmap's grepable format (one line per host; - for standard output)")
    .option("--output-all <base>", "-oN, -oG and -oX at once: BASE.nmap, BASE.gnmap and BASE.xml")
    .option("--timing <level>", "nmap's timing template: 0-5 or paranoid, sneaky, polite, normal, aggressive, insane (docs/scanner.md)", parseTiming)
    .option("--banner [seconds]", "read what open ports say first (at most 256 bytes; default 1 s)", parseSecondsOption("--banner", 0.01, 60))
    .option("--shard <k/n>", "scan the k-th of n shards (every n-th address); the shards' union is the whole scan", parseShard)
    .option("--no-progress", "no progress bar on a terminal")
    .option("--resume <file>", "journal finished hosts in FILE; if it exists, continue its scan without redoing them")
    .option("--every <duration>", "rescan every 90s, 5m, 1h...; print what changed (hosts up/down, ports opened/closed)", parseEvery)
    .option("--on-change <command>", "run this program (no shell) with the changes as JSON on stdin, when any")
    .option("--hook-timeout <seconds>", "kill an --on-change program after this long", parseSecondsOption("--hook-timeout", 0.1, 3600), 10)
    .option("--db <path>", "database the scans are stored in (default: the incident database)")
    .option("--no-store", "do not store the scan (and do not compare it with the previous one)")
    .addHelpText("after", EXAMPLE)
    .action(async (targets: string[], opts: ScanCliOptions, self: Command) => {
      const { runScan } = await import("./run.js");
      await runScan(targets, opts, (name) => self.getOptionValueSource(name) === "cli");
    });
  withNmapSpellings(command.options);
}
