/**
 * What `halfopen scan` does once its options are parsed (command.ts): read
 * target and exclude files, run the scanner, print hosts as they finish
 * (with a progress bar on a terminal), or one JSON object, or CSV rows, and
 * write nmap XML. Ctrl-C stops the scan and prints what was found.
 */
import { readFileSync, writeFileSync } from "node:fs";
import { stringify } from "csv-stringify/sync";
import { nmapXml } from "../../core/scan/nmap-xml.js";
import { ErrorCodes, HalfOpenError } from "../../errors.js";
import { DISCOVERY_PORTS, scan, type HostResult, type ScanSummary } from "../../scanner/scan.js";
import { VERSION } from "../../version.js";
import { csvSafe, fit, forTerminal } from "../sanitize.js";
import type { ScanCliOptions } from "./command.js";

/** Lines of a target or exclude file: whitespace- or comma-separated, `#` comments. */
function readList(file: string, what: string): string[] {
  let text: string;
  try {
    text = readFileSync(file, "utf8");
  } catch (e) {
    throw new HalfOpenError(ErrorCodes.BAD_USAGE, `Cannot read the ${what} file "${file}": ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
  return text
    .split("\n")
    .map((l) => l.replace(/#.*/, ""))
    .flatMap((l) => l.split(/[\s,]+/))
    .filter(Boolean);
}

const ms = (x: number) => (x < 10 ? x.toFixed(2) : x < 100 ? x.toFixed(1) : Math.round(x).toString());

/** One host, as the terminal shows it (everything the target controls escaped). */
export function hostLines(h: HostResult): string[] {
  const names = h.names?.length ? ` (${h.names.map(forTerminal).join(", ")})` : "";
  const rtt = h.times ? `, ${ms(h.times.srttMs)} ms` : "";
  const lines = [fit(`${h.address}${names} up${rtt}`, 79)];
  const shown = h.ports.filter((p) => p.state === "open" || p.state === "unknown");
  const counts = new Map<string, number>();
  for (const p of h.ports) if (!shown.includes(p)) counts.set(p.state, (counts.get(p.state) ?? 0) + 1);
  for (const p of shown) {
    const banner = p.banner === undefined ? "" : `  ${forTerminal(p.banner.replace(/\r?\n$/, ""))}`;
    lines.push(fit(`  ${`${p.port}/tcp`.padEnd(10)}${p.state.padEnd(9)}${p.reason}${banner}`, 79));
  }
  if (counts.size > 0)
    lines.push(
      `  not shown: ${[...counts]
        .sort((a, b) => b[1] - a[1])
        .map(([s, n]) => `${n} ${s}`)
        .join(", ")}`,
    );
  return lines;
}

/** Words wrapped at 79 columns. */
function wrap(text: string): string[] {
  const lines: string[] = [];
  let line = "";
  for (const word of text.split(" ")) {
    if (line && line.length + 1 + word.length > 79) {
      lines.push(line);
      line = `  ${word}`;
    } else line = line ? `${line} ${word}` : word;
  }
  if (line) lines.push(line);
  return lines;
}

function summaryLines(s: ScanSummary, budget: number): string[] {
  const discovery = {
    raw: "discovery: ICMP echo + TCP ACK",
    "ping-socket": `discovery: ICMP + connect ${DISCOVERY_PORTS.join(",")}`,
    connect: `discovery: connect ${DISCOVERY_PORTS.join(",")}`,
    none: "no discovery (-Pn)",
  }[s.discovery];
  const plural = (n: number, one: string, many = `${one}s`) => `${n} ${n === 1 ? one : many}`;
  return [
    fit(`halfopen: ${s.aborted ? "interrupted after" : "scanned"} ${s.done}/${plural(s.total, "address", "addresses")} in ${(s.elapsedMs / 1000).toFixed(1)}s: ${s.up} up, ${s.down} down, ${plural(s.open, "open port")}${s.unknown ? `, ${s.unknown} unknown` : ""}`, 79),
    fit(`halfopen: at most ${s.peakInFlight} in SYN_SENT (budget ${budget}); ${discovery}`, 79),
    ...(s.discoveryNote ? wrap(`halfopen: ${s.discoveryNote}`) : []),
  ];
}

export async function runScan(positional: string[], o: ScanCliOptions): Promise<void> {
  const targets = [...positional, ...(o.inputList ?? []).flatMap((f) => readList(f, "target"))];
  if (targets.length === 0) throw new HalfOpenError(ErrorCodes.BAD_USAGE, "Cannot scan: no targets (give addresses, ranges or names, or -iL FILE)");
  if ([o.json, o.csv].filter(Boolean).length > 1) throw new HalfOpenError(ErrorCodes.BAD_USAGE, "Cannot use --json and --csv together");
  const exclude = [...(o.exclude ?? []), ...(o.excludeFile ?? []).flatMap((f) => readList(f, "exclude"))];
  const controller = new AbortController();
  const onSigint = () => controller.abort();
  process.once("SIGINT", onSigint);
  const bannerSeconds = o.banner === undefined ? undefined : typeof o.banner === "number" ? o.banner : 1;
  const run = scan({
    targets,
    exclude,
    ...(o.ports === undefined ? {} : { ports: o.ports }),
    maxHalfOpen: o.maxHalfOpen,
    discovery: o.discovery ? o.discoveryMethod : "none",
    retries: o.retries,
    allowLarge: o.yes === true,
    signal: controller.signal,
    ...(o.shard ? { shard: o.shard } : {}),
    ...(bannerSeconds === undefined ? {} : { bannerMs: bannerSeconds * 1000 }),
  });
  const text = !o.json && !o.csv;
  const hosts: HostResult[] = [];
  const showBar = text && o.progress && process.stderr.isTTY === true;
  const { MultiBar, Presets } = showBar ? await import("cli-progress") : { MultiBar: undefined, Presets: undefined };
  const multi = MultiBar && Presets ? new MultiBar({ stream: process.stderr, barsize: 20, hideCursor: true, clearOnComplete: true, format: "{bar} {value}/{total} hosts | {rate}/s | ETA {eta_formatted} | {up} up, {open} open" }, Presets.shades_classic) : undefined;
  let bar: ReturnType<NonNullable<typeof multi>["create"]> | undefined;
  const print = (lines: string[]) => {
    const s = `${lines.join("\n")}\n`;
    if (multi) multi.log(s);
    else process.stdout.write(s);
  };
  let csvHeader = false;
  try {
    for await (const host of run) {
      const s = run.summary();
      if (multi) {
        bar ??= multi.create(s.total, 0, { rate: "0", up: 0, open: 0 });
        bar.update(s.done, { rate: (s.done / Math.max(0.001, (Date.now() - s.startedAt) / 1000)).toFixed(1), up: s.up, open: s.open });
      }
      if (host.status !== "up") continue;
      hosts.push(host);
      if (text) print(hostLines(host));
      else if (o.csv) {
        const rows = host.ports.map((p) => [host.address, String(p.port), p.state, p.reason, p.rttMs === undefined ? "" : p.rttMs.toFixed(3), p.banner === undefined ? "" : csvSafe(p.banner)]);
        if (!csvHeader) {
          rows.unshift(["address", "port", "state", "reason", "rtt_ms", "banner"]);
          csvHeader = true;
        }
        process.stdout.write(stringify(rows));
      }
    }
  } finally {
    multi?.stop();
    process.removeListener("SIGINT", onSigint);
  }
  const summary = run.summary();
  if (o.csv && !csvHeader) process.stdout.write(stringify([["address", "port", "state", "reason", "rtt_ms", "banner"]]));
  if (o.json) {
    const out = {
      type: "scan",
      hosts: hosts.map((h) => ({ address: h.address, ...(h.names ? { names: h.names } : {}), status: h.status, reason: h.reason, ports: h.ports.map((p) => ({ port: p.port, state: p.state, reason: p.reason, ...(p.rttMs === undefined ? {} : { rttMs: p.rttMs }), ...(p.banner === undefined ? {} : { banner: p.banner }) })) })),
      summary: { ...summary, maxHalfOpen: o.maxHalfOpen, ports: run.ports.length },
    };
    process.stdout.write(`${JSON.stringify(out)}\n`);
  }
  if (o.xml !== undefined) {
    const xml = nmapXml({
      args: `halfopen scan ${process.argv.slice(3).join(" ")}`,
      version: `halfopen-${VERSION}`,
      startedAt: summary.startedAt,
      endedAt: summary.startedAt + summary.elapsedMs,
      ports: run.ports,
      hosts,
      up: summary.up,
      down: summary.down,
      aborted: summary.aborted,
    });
    try {
      writeFileSync(o.xml, xml);
    } catch (e) {
      throw new HalfOpenError(ErrorCodes.BAD_USAGE, `Cannot write the XML to "${o.xml}": ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
    }
  }
  if (text) process.stdout.write(`${summaryLines(summary, o.maxHalfOpen).join("\n")}\n`);
  if (summary.aborted) process.exitCode = 130;
}
