/**
 * Which sockets of a process are half-open (SYN_SENT), from a socket table
 * reader: what `halfopen close` destroys and reports. Kept apart from
 * actions.ts (which chooses a reader through select.ts) so the Linux close
 * code can use it without a dependency cycle.
 */
import { type SocketRow } from "../core/socket-table.js";
import { TcpState } from "../core/tcp-state.js";
import type { SocketReader } from "./polling-source.js";

export interface CloseFilter {
  /** Only attempts to this address (and port, when given). */
  dst?: { address: string; port: number | undefined };
}

export interface CloseResult {
  pid: number;
  /** Half-open attempts of the process that matched. */
  found: number;
  /** Of those, destroyed by the kernel (gone at the re-read). */
  closed: number;
  /** Still half-open at the re-read. */
  remaining: number;
  sockets: { src: string; dst: string; closed: boolean }[];
}

/** The half-open sockets of `pid` in `reader`'s table that match the filter. */
export async function halfOpenSocketsIn(reader: SocketReader, pid: number, filter: CloseFilter = {}): Promise<SocketRow[]> {
  const read = await reader.read(0);
  return read.snapshot.rows.filter(
    (r) =>
      r.pid === pid &&
      r.state === TcpState.SYN_SENT &&
      (!filter.dst || (r.remote.address === filter.dst.address && (filter.dst.port === undefined || r.remote.port === filter.dst.port))),
  );
}
