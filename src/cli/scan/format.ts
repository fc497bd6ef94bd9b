/**
 * `halfopen scan`'s text: a host as lines (everything the target controls
 * escaped), the summary, words wrapped at the output width (sanitize.ts cols()). Pure.
 */
import type { HostResult, ScanSummary } from "../../core/scan/model.js";
import { serviceName } from "../../core/scan/services.js";
import { DISCOVERY_PORTS } from "../../scanner/raw-discovery.js";
import { cols, fit, forTerminal } from "../sanitize.js";

const ms = (x: number) => (x < 10 ? x.toFixed(2) : x < 100 ? x.toFixed(1) : Math.round(x).toString());

/**
 * One host, as the terminal shows it (everything the target controls
 * escaped): its ports as nmap's PORT, STATE, SERVICE columns, then the
 * reason and the banner. `width`: the terminal's (cols()), or Infinity for a file.
 */
export function hostLines(h: HostResult, width = cols()): string[] {
  const names = h.names?.length ? ` (${h.names.map(forTerminal).join(", ")})` : "";
  const rtt = h.times ? `, ${ms(h.times.srttMs)} ms` : "";
  const lines = [fit(`${h.address}${names} up${rtt}`, width)];
  const shown = h.ports.filter((p) => p.state === "open" || p.state === "unknown");
  const counts = new Map<string, number>();
  for (const p of h.ports) if (!shown.includes(p)) counts.set(p.state, (counts.get(p.state) ?? 0) + 1);
  const service = Math.max(7, ...shown.map((p) => serviceName(p.port).length)) + 2;
  if (shown.length > 0) lines.push(fit(`  ${"PORT".padEnd(10)}${"STATE".padEnd(9)}${"SERVICE".padEnd(service)}REASON`, width));
  for (const p of shown) {
    const banner = p.banner === undefined ? "" : `  ${forTerminal(p.banner.replace(/\r?\n$/, ""))}`;
    lines.push(fit(`  ${`${p.port}/tcp`.padEnd(10)}${p.state.padEnd(9)}${serviceName(p.port).padEnd(service)}${p.reason}${banner}`, width));
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

/** Words wrapped at the output width (a pipe or a file: one line). */
export function wrap(text: string): string[] {
  const lines: string[] = [];
  let line = "";
  for (const word of text.split(" ")) {
    if (line && line.length + 1 + word.length > cols()) {
      lines.push(line);
      line = `  ${word}`;
    } else line = line ? `${line} ${word}` : word;
  }
  if (line) lines.push(line);
  return lines;
}

export function summaryLines(s: ScanSummary, budget: number, width = cols(), portScan = true): string[] {
  const discovery = {
    raw: "discovery: ICMP echo + TCP ACK",
    "ping-socket": `discovery: ICMP + connect ${DISCOVERY_PORTS.join(",")}`,
    connect: `discovery: connect ${DISCOVERY_PORTS.join(",")}`,
    none: "no discovery (-Pn)",
  }[s.discovery];
  const plural = (n: number, one: string, many = `${one}s`) => `${n} ${n === 1 ? one : many}`;
  return [
    fit(`halfopen: ${s.aborted ? "interrupted after" : "scanned"} ${s.done}/${plural(s.total, "address", "addresses")} in ${(s.elapsedMs / 1000).toFixed(1)}s: ${s.up} up, ${s.down} down${portScan ? `, ${plural(s.open, "open port")}` : " (no port scan: -sn)"}${s.unknown ? `, ${s.unknown} unknown` : ""}`, width),
    fit(`halfopen: at most ${s.peakInFlight} in SYN_SENT (budget ${budget}); ${discovery}`, width),
    ...(s.discoveryNote ? wrap(`halfopen: ${s.discoveryNote}`) : []),
  ];
}


export const CSV_HEADER = ["address", "port", "state", "reason", "rtt_ms", "banner"];
export const clock = (t: number) => new Date(t).toTimeString().slice(0, 8);

/** A line about the scan on standard error, wrapped. */
export const say = (line: string) => process.stderr.write(`${wrap(`halfopen: ${line}`).join("\n")}\n`);
