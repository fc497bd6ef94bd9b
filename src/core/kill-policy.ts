/**
 * When halfopen may end a process. Pure: the caller reads the process table.
 *
 * - Never PID 1 (or 0, or a negative pid: those signal groups), never
 *   kernel threads (pid 2 and its children), never halfopen itself or the
 *   process that started it (the shell, the service manager).
 * - A pid names a process only together with its start time: when the
 *   caller expects a particular process (from an incident, or from what it
 *   showed the user before asking), the start time must match, so a pid that
 *   was reused by another process is never signalled.
 */

/** What identifies a running process. `startTime` is in clock ticks since boot on Linux. */
/** Signals `kill` may send. */
export const SIGNALS = ["TERM", "KILL", "INT", "HUP", "QUIT"] as const;
export type SignalName = (typeof SIGNALS)[number];

export interface ProcessIdentity {
  pid: number;
  name: string;
  startTime?: number;
  ppid?: number;
  uid?: number;
  /** One-letter process state (Linux: "Z" is a zombie, already dead). */
  state?: string;
}

export type KillCheck =
  | { ok: true }
  | { ok: false; code: "HALFOPEN_REFUSED" | "HALFOPEN_NOT_FOUND"; reason: string };

export interface KillCheckInput {
  pid: number;
  /** The process with that pid now, or undefined when none exists. */
  current: ProcessIdentity | undefined;
  /** The process the user meant (from an incident or from the confirmation prompt). */
  expected?: { name: string; startTime?: number };
  /** Require `expected.startTime` (killing from an incident record). */
  requireStartTime?: boolean;
  self: number;
  parent: number;
}

export function checkKill(input: KillCheckInput): KillCheck {
  const { pid, current, expected } = input;
  const refuse = (reason: string): KillCheck => ({ ok: false, code: "HALFOPEN_REFUSED", reason });
  if (!Number.isSafeInteger(pid) || pid <= 1) return refuse(`PID ${pid} is ${pid === 1 ? "init" : "not a single process"}; halfopen never signals it`);
  if (pid === input.self) return refuse(`PID ${pid} is halfopen itself`);
  if (pid === input.parent) return refuse(`PID ${pid} is halfopen's parent (the shell or service that started it)`);
  if (pid === 2 || current?.ppid === 2) return refuse(`PID ${pid} is a kernel thread`);
  if (!current) return { ok: false, code: "HALFOPEN_NOT_FOUND", reason: `no process has PID ${pid} now${expected ? ` (${expected.name} has exited)` : ""}` };
  if (expected) {
    if (expected.startTime === undefined) {
      if (input.requireStartTime) return refuse(`the record of PID ${pid} (${expected.name}) has no start time, so halfopen cannot tell it from a process that reused the PID; check it and use "halfopen kill ${pid}"`);
    } else if (current.startTime === undefined || current.startTime !== expected.startTime) {
      return refuse(`PID ${pid} now belongs to another process (${current.name}, started at tick ${current.startTime ?? "?"}; ${expected.name} started at tick ${expected.startTime}): the PID was reused`);
    }
  }
  return { ok: true };
}
