/** Builders of synthetic event streams for core tests. */
import type { ConnectEvent, ConnectionEvent, LeaveEvent, ProcessInfo } from "../../src/core/events.js";
import { TcpState } from "../../src/core/tcp-state.js";

export function proc(pid: number, name = `p${pid}`, extra: Partial<ProcessInfo> = {}): ProcessInfo {
  return { pid, name, ...extra };
}

let sockSeq = 0;
/** A fresh socket id. */
export function sock(): string {
  return `sk${++sockSeq}`;
}

export function connect(time: number, process: ProcessInfo, s = sock(), dst = { address: "198.18.0.1", port: 9 }): ConnectEvent {
  return { type: "connect", time, sock: s, pid: process.pid, family: dst.address.includes(":") ? 6 : 4, src: { address: "198.18.0.1", port: 0 }, dst, process };
}

export function established(time: number, s: string): LeaveEvent {
  return { type: "leave", time, sock: s, newState: TcpState.ESTABLISHED, srcPort: 40000, inInterrupt: true };
}

export function closed(time: number, s: string, inInterrupt: boolean): LeaveEvent {
  return { type: "leave", time, sock: s, newState: TcpState.CLOSE, srcPort: 40000, inInterrupt };
}

/** `n` connects of one process to distinct dropped ports, 1 ms apart from `t0`. */
export function burst(t0: number, process: ProcessInfo, n: number): ConnectEvent[] {
  return Array.from({ length: n }, (_, i) => connect(t0 + i, process, sock(), { address: "198.18.0.1", port: 10_000 + i }));
}

export type { ConnectionEvent };
