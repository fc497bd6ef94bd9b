/**
 * nmap's timing templates (`-T0` to `-T5`) in halfopen's terms. nmap's man
 * page: T0 and T1 serialize the scan and wait 5 minutes and 15 seconds
 * between probes, T2 waits 0.4 s; T3 is the default; T4 is
 * `--max-rtt-timeout 1250ms --min-rtt-timeout 100ms --initial-rtt-timeout
 * 500ms --max-retries 6`, T5 `--max-rtt-timeout 300ms --min-rtt-timeout 50ms
 * --initial-rtt-timeout 250ms --max-retries 2`. Here:
 *
 * | -T | name       | half-open at once | probes started   | RTT timeout (initial/min/max ms) | retries |
 * |----|------------|-------------------|------------------|----------------------------------|---------|
 * | 0  | paranoid   | 1                 | one per 300 s    | 1000 / 100 / 10000 (T3's)        | 1       |
 * | 1  | sneaky     | 1                 | one per 15 s     | T3's                             | 1       |
 * | 2  | polite     | 1                 | one per 0.4 s    | T3's                             | 1       |
 * | 3  | normal     | --max-half-open   | unpaced          | T3's                             | 1       |
 * | 4  | aggressive | --max-half-open   | unpaced          | 500 / 100 / 1250                 | 6       |
 * | 5  | insane     | --max-half-open   | unpaced          | 250 / 50 / 300                   | 2       |
 *
 * The budget stays the user's (default 10, XP's) from T3 up: nmap's
 * parallelism is what halfopen exists to bound. `--max-half-open` and
 * `--retries` given explicitly win over the template. Pure.
 */
import { ErrorCodes, HalfOpenError } from "../../errors.js";
import { NMAP_T3, type RttOptions } from "./timing.js";

export interface TimingTemplate {
  level: number;
  name: string;
  /** Half-open attempts at once, when the template sets it (T0-T2: one). */
  maxHalfOpen?: number;
  /** Probes started per second, when paced (T0-T2). */
  releasePerSecond?: number;
  rtt: RttOptions;
  retries: number;
}

export const TIMING_TEMPLATES: readonly TimingTemplate[] = [
  { level: 0, name: "paranoid", maxHalfOpen: 1, releasePerSecond: 1 / 300, rtt: NMAP_T3, retries: 1 },
  { level: 1, name: "sneaky", maxHalfOpen: 1, releasePerSecond: 1 / 15, rtt: NMAP_T3, retries: 1 },
  { level: 2, name: "polite", maxHalfOpen: 1, releasePerSecond: 2.5, rtt: NMAP_T3, retries: 1 },
  { level: 3, name: "normal", rtt: NMAP_T3, retries: 1 },
  { level: 4, name: "aggressive", rtt: { initialMs: 500, minMs: 100, maxMs: 1250 }, retries: 6 },
  { level: 5, name: "insane", rtt: { initialMs: 250, minMs: 50, maxMs: 300 }, retries: 2 },
];

/** `-T4`, `--timing 4` or `--timing aggressive`: the template's level. Throws BAD_USAGE. */
export function parseTiming(text: string): number {
  const t = text.trim().toLowerCase();
  const found = TIMING_TEMPLATES.find((x) => String(x.level) === t || x.name === t);
  if (!found) throw new HalfOpenError(ErrorCodes.BAD_USAGE, `Cannot use timing "${text}": expected 0-5 or ${TIMING_TEMPLATES.map((x) => x.name).join(", ")} (nmap's -T0 to -T5)`);
  return found.level;
}

export function timingTemplate(level: number | undefined): TimingTemplate {
  return TIMING_TEMPLATES[level ?? 3] ?? (TIMING_TEMPLATES[3] as TimingTemplate);
}
