/**
 * `halfopen scan`: live hosts and open ports within a half-open budget
 * (src/scanner/). nmap's spellings -Pn, -iL and -oX are accepted
 * (nmapAliases() turns them into the long options before parsing).
 */
import type { Command } from "commander";
import { ErrorCodes, HalfOpenError } from "../../errors.js";
import { parseShard } from "../../core/scan/targets.js";
import { DEFAULT_MAX_HALF_OPEN } from "../../scanner/scan.js";
import { parseDuration } from "../../core/duration.js";
import { parseIntOption, parseSecondsOption } from "../options.js";

export interface ScanCliOptions {
  ports?: string;
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

/** nmap's single-dash spellings as halfopen's long options. */
export function nmapAliases(argv: readonly string[]): string[] {
  const map: Record<string, string> = { "-Pn": "--no-discovery", "-iL": "--input-list", "-oX": "--xml" };
  return argv.map((a, i) => (i > 2 && map[a] !== undefined ? (map[a] as string) : a));
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

Example:
  $ halfopen scan 198.18.0.0/24 -p 22,80,443 --max-half-open 10
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
  program
    .command("scan")
    .description("find live hosts and open ports with TCP connects, never more than --max-half-open in SYN_SENT")
    .argument("[targets...]", "addresses, CIDR blocks, ranges or host names")
    .option("-p, --ports <list>", "ports: 22,80,8000-8100, or - for all (default: nmap's top 20)")
    .option("--no-discovery", "scan every address's ports without checking it is up first (nmap -Pn)")
    .option("--discovery-method <how>", "auto: ICMP echo and TCP ACK over raw sockets (root), else a ping socket, else connects; connect: connects to 80 and 443", parseDiscoveryMethod, "auto")
    .option("--max-half-open <n>", "connect attempts in SYN_SENT at once", parseIntOption("--max-half-open", 1, 100_000), DEFAULT_MAX_HALF_OPEN)
    .option("--retries <n>", "attempts again after silence before a port is filtered", parseIntOption("--retries", 0, 20), 1)
    .option("--exclude <list>", "addresses not to scan (comma-separated; repeatable)", split)
    .option("--exclude-file <file>", "addresses not to scan, one per line", many)
    .option("--input-list <file>", "targets from a file, one per line (nmap -iL)", many)
    .option("--yes", "scan more than 65,536 addresses")
    .option("--json", "one JSON object at the end: hosts that are up, and a summary")
    .option("--csv", "one CSV row per port of each host that is up")
    .option("--xml <file>", "also write nmap XML (nmap -oX)")
    .option("--banner [seconds]", "read what open ports say first (at most 256 bytes; default 1 s)", parseSecondsOption("--banner", 0.01, 60))
    .option("--shard <k/n>", "scan the k-th of n shards (every n-th address); the shards' union is the whole scan", parseShard)
    .option("--no-progress", "no progress bar on a terminal")
    .option("--resume <file>", "journal finished hosts in FILE; if it exists, continue its scan without redoing them")
    .option("--every <duration>", "rescan every 90s, 5m, 1h...; print what changed (hosts up/down, ports opened/closed)", parseEvery)
    .option("--on-change <command>", "run this program (no shell) with the changes as JSON on stdin, when any")
    .option("--hook-timeout <seconds>", "kill an --on-change program after this long", parseSecondsOption("--hook-timeout", 0.1, 3600), 30)
    .option("--db <path>", "database the scans are stored in (default: the incident database)")
    .option("--no-store", "do not store the scan (and do not compare it with the previous one)")
    .addHelpText("after", EXAMPLE)
    .action(async (targets: string[], opts: ScanCliOptions, command: Command) => {
      const { runScan } = await import("./run.js");
      await runScan(targets, opts, (name) => command.getOptionValueSource(name) === "cli");
    });
}
