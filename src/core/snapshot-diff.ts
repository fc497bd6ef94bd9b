/**
 * SnapshotDiffer: turns successive socket-table snapshots into the neutral
 * event stream (events.ts), so the monitor works the same on polling sources
 * (/proc, Windows, macOS) as on tracefs. Pure.
 *
 *   key in SYN_SENT now, not before      -> connect
 *   key in SYN_SENT before and now       -> retransmit, once per new SYN retry
 *   key in SYN_SENT before, other state  -> leave (newState; ESTABLISHED etc.)
 *   key in SYN_SENT before, gone now     -> leave, vanished (outcome unknown)
 *   pid of a tracked attempt not alive   -> exit (when the source lists live pids)
 *
 * What polling cannot see: an attempt that starts and ends between two
 * polls. Every event of one diff carries the snapshot's time.
 */
import type { ConnectionEvent, ProcessInfo } from "./events.js";
import type { SocketSnapshot } from "./socket-table.js";
import { TcpState } from "./tcp-state.js";

/** Pid used for half-open sockets whose owner could not be found. */
export const UNKNOWN_OWNER_PID = 0;

interface Tracked {
  pid: number;
  retransmits: number;
}

export class SnapshotDiffer {
  readonly #pending = new Map<string, Tracked>();
  readonly #names = new Map<number, string>();

  /** Half-open sockets being tracked. */
  get size(): number {
    return this.#pending.size;
  }

  /**
   * Events that take the previous snapshot to this one. `alivePids`, when
   * given, lists every process alive at the snapshot; tracked pids missing
   * from it produce an exit event.
   */
  diff(snapshot: SocketSnapshot, alivePids?: ReadonlySet<number>): ConnectionEvent[] {
    const time = snapshot.time;
    const events: ConnectionEvent[] = [];
    const now = new Map<string, (typeof snapshot.rows)[number]>();
    for (const row of snapshot.rows) now.set(row.key, row);

    const pidsBefore = new Set<number>();
    for (const [key, tracked] of this.#pending) {
      pidsBefore.add(tracked.pid);
      const row = now.get(key);
      if (row && row.state === TcpState.SYN_SENT) {
        const r = row.retransmits ?? tracked.retransmits;
        for (let i = tracked.retransmits; i < r; i++) events.push({ type: "retransmit", time, sock: key });
        tracked.retransmits = Math.max(r, tracked.retransmits);
        continue;
      }
      this.#pending.delete(key);
      if (row) {
        events.push({ type: "leave", time, sock: key, newState: row.state, srcPort: row.local.port, inInterrupt: true });
      } else {
        events.push({ type: "leave", time, sock: key, newState: TcpState.CLOSE, inInterrupt: false, vanished: true });
      }
    }

    for (const row of snapshot.rows) {
      if (row.state !== TcpState.SYN_SENT || this.#pending.has(row.key)) continue;
      const pid = row.pid ?? UNKNOWN_OWNER_PID;
      const process: ProcessInfo = snapshot.processes.get(pid) ?? {
        pid,
        name: pid === UNKNOWN_OWNER_PID ? "(owner unknown)" : "?",
        partial: true,
        ...(row.uid === undefined ? {} : { uid: row.uid }),
      };
      this.#names.set(pid, process.name);
      this.#pending.set(row.key, { pid, retransmits: row.retransmits ?? 0 });
      events.push({
        type: "connect",
        time,
        sock: row.key,
        pid,
        family: row.family,
        src: { ...row.local },
        dst: { ...row.remote },
        process,
      });
    }

    if (alivePids) {
      for (const pid of pidsBefore) {
        if (pid === UNKNOWN_OWNER_PID || alivePids.has(pid)) continue;
        events.push({ type: "exit", time, pid, name: this.#names.get(pid) ?? "?" });
      }
    }
    // Names are kept only for pids that still have attempts (bounded memory).
    const live = new Set<number>();
    for (const t of this.#pending.values()) live.add(t.pid);
    for (const pid of this.#names.keys()) if (!live.has(pid)) this.#names.delete(pid);
    return events;
  }
}
