/**
 * One TCP connect probe inside the half-open budget: the slot is asked for
 * first, the timeout starts when it is granted (so waiting never turns an
 * open port into a filtered one), and the slot is released the moment the
 * attempt leaves SYN_SENT (answered, refused, failed, or timed out and
 * destroyed). An open port is closed with a RST (SO_LINGER 0, as nmap does),
 * after reading its banner when asked.
 */
import net from "node:net";
import type { HalfOpenBudget } from "../core/half-open-budget.js";

export interface ProbeResult {
  /** The connect's error code; undefined when it connected; "TIMEOUT" when nothing answered in time; "ABORTED" when the scan was stopped first. */
  code: string | undefined;
  /** From the grant to the answer, ms (meaningful when answered). */
  rttMs: number;
  /** What the port said first, when asked and it said something (raw; escape before showing). */
  banner?: string;
}

export interface ProbeOptions {
  budget: HalfOpenBudget;
  address: string;
  family: 4 | 6;
  port: number;
  /** The connect timeout, ms, asked for when the slot is granted (so it uses the latest round-trip estimate). */
  timeoutMs: number | (() => number);
  signal?: AbortSignal;
  /** Read what an open port says first, for at most this long (ms) and 256 bytes. */
  bannerMs?: number;
  /** Connect from this local address (tests). */
  localAddress?: string;
}

const BANNER_BYTES = 256;

export function probe(o: ProbeOptions): Promise<ProbeResult> {
  return new Promise((resolve) => {
    o.budget.request({
      label: () => `${o.family === 6 ? `[${o.address}]` : o.address}:${o.port}`,
      ...(o.signal ? { signal: o.signal } : {}),
      reject: () => resolve({ code: "ABORTED", rttMs: 0 }),
      start: (lease) => {
        if (o.signal?.aborted) {
          lease.release();
          resolve({ code: "ABORTED", rttMs: 0 });
          return;
        }
        const t0 = performance.now();
        let settled = false;
        const socket = net.connect({ host: o.address, port: o.port, family: o.family, ...(o.localAddress ? { localAddress: o.localAddress } : {}) });
        const onAbort = () => end("ABORTED");
        const timer = setTimeout(() => end("TIMEOUT"), typeof o.timeoutMs === "function" ? o.timeoutMs() : o.timeoutMs);
        o.signal?.addEventListener("abort", onAbort, { once: true });
        /** The attempt left SYN_SENT (or was given up): free the slot after the socket is gone, so the count never exceeds the budget. */
        function end(code: string | undefined): void {
          if (settled) return;
          settled = true;
          clearTimeout(timer);
          o.signal?.removeEventListener("abort", onAbort);
          const rttMs = performance.now() - t0;
          if (code !== undefined) socket.destroy();
          lease.release();
          if (code !== undefined || o.bannerMs === undefined) {
            if (code === undefined) socket.resetAndDestroy();
            resolve({ code, rttMs });
            return;
          }
          readBanner(socket, o.bannerMs).then((banner) => resolve({ code, rttMs, ...(banner ? { banner } : {}) }));
        }
        socket.once("connect", () => end(undefined));
        socket.once("error", (e: NodeJS.ErrnoException) => end(e.code ?? "EUNKNOWN"));
        socket.once("close", () => end("ECONNRESET"));
      },
    });
  });
}

/** Up to 256 bytes that arrive within `ms`, then a RST. */
function readBanner(socket: net.Socket, ms: number): Promise<string | undefined> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const done = () => {
      clearTimeout(timer);
      socket.removeAllListeners("data");
      if (!socket.destroyed) socket.resetAndDestroy();
      resolve(size > 0 ? Buffer.concat(chunks).subarray(0, BANNER_BYTES).toString("utf8") : undefined);
    };
    const timer = setTimeout(done, ms);
    socket.on("data", (d: Buffer) => {
      chunks.push(d);
      size += d.length;
      if (size >= BANNER_BYTES) done();
    });
    socket.once("end", done);
    socket.once("error", done);
    socket.once("close", done);
  });
}
