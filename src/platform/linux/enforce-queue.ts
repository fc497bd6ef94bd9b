/**
 * The NFQUEUE queue `watch --enforce` holds SYNs in: the native helper's
 * netlink socket (nfqOpen) read by its pump thread (nfqPump), which accepts
 * at once, by itself, as many SYNs as it was granted (free slots while
 * nothing is held: a connect below the limit never waits for this thread),
 * and hands every packet over in batches, parsed here (nfqueue.ts); the
 * verdicts of the rest are sent many to a syscall, flushed once the current
 * JavaScript turn is done. Packets whose headers cannot be read are let go
 * at once (never hold what we cannot judge).
 *
 * Needs: the native helper, root. Not part of the pure core.
 */
import { closeSync } from "node:fs";
import { ErrorCodes, HalfOpenError } from "../../errors.js";
import type { NativeHelper, NfqPump } from "./native.js";
import { type QueuedPacket, parseQueueMessages } from "./nfqueue.js";

export interface EnforceQueueOptions {
  native: NativeHelper;
  queueNum: number;
  /** Packets the kernel holds at most; past this, new SYNs fail open. */
  maxLen: number;
  netnsPath?: string;
}

export interface EnforceQueueStats {
  /** Packets read from the queue. */
  packets: number;
  /** Times the kernel could not deliver to us (ENOBUFS): those SYNs failed open. */
  overflows: number;
  /** Packets let go unread (headers not readable). */
  unreadable: number;
  /** Errors the kernel answered verdicts with (a verdict for a packet it no longer held). */
  verdictErrors: number;
}

export class EnforceQueue {
  readonly queueNum: number;
  readonly stats: EnforceQueueStats = { packets: 0, overflows: 0, unreadable: 0, verdictErrors: 0 };
  readonly #native: NativeHelper;
  #fd: number | undefined;
  #pump?: NfqPump;
  /** Fast accepts of the pump handed over so far. */
  #fastSeen = 0;
  #ids: number[] = [];
  #accepts: number[] = [];
  #flushQueued = false;

  private constructor(native: NativeHelper, fd: number, queueNum: number) {
    this.#native = native;
    this.#fd = fd;
    this.queueNum = queueNum;
  }

  /** Bind the queue. EBUSY (another program has it) is ENFORCE_BUSY; anything else ENFORCE_UNAVAILABLE. */
  static open(o: EnforceQueueOptions): EnforceQueue {
    try {
      return new EnforceQueue(o.native, o.native.nfqOpen(o.netnsPath ?? "", o.queueNum, o.maxLen), o.queueNum);
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (code === "EBUSY") {
        throw new HalfOpenError(ErrorCodes.ENFORCE_BUSY, `NFQUEUE queue ${o.queueNum} is held by another program (another watch --enforce?): stop it, or choose another --queue-num`);
      }
      const why = code === "EPERM" || code === "EACCES" ? "needs root (CAP_NET_ADMIN)" : (e as Error).message;
      throw new HalfOpenError(ErrorCodes.ENFORCE_UNAVAILABLE, `Cannot open NFQUEUE queue ${o.queueNum}: ${why}`);
    }
  }

  /**
   * Deliver packets as they come: `accepted` says whether the pump already
   * let the packet go (it was within the grant); `readAtMs` (CLOCK_MONOTONIC):
   * every packet queued before it has been delivered.
   */
  start(onPackets: (packets: { packet: QueuedPacket; accepted: boolean }[], readAtMs: number) => void): void {
    const fd = this.#fd;
    if (fd === undefined) return;
    this.#pump = this.#native.nfqPump(fd, this.queueNum, () => {
      const pump = this.#pump;
      if (!pump || this.#fd === undefined) return;
      const r = pump.take();
      this.stats.overflows += r.overflows;
      const fast = new Set(r.accepted);
      this.#fastSeen += r.accepted.length;
      const parsed = parseQueueMessages(r.messages);
      this.stats.packets += parsed.packets.length + parsed.unreadable.length;
      this.stats.verdictErrors += parsed.errors.length;
      for (const id of parsed.unreadable) {
        this.stats.unreadable++;
        if (!fast.has(id)) this.verdict(id, true);
      }
      onPackets(parsed.packets.map((packet) => ({ packet, accepted: fast.has(packet.id) })), r.readAtMs);
      this.flush();
    });
  }

  /** Let the pump accept up to `free` more SYNs by itself (0 while anything is held). */
  grant(free: number): void {
    this.#pump?.grant(this.#fastSeen + Math.max(0, free));
  }

  /** A verdict, sent with the others of this turn. */
  verdict(id: number, accept: boolean): void {
    this.#ids.push(id);
    this.#accepts.push(accept ? 1 : 0);
    if (!this.#flushQueued) {
      this.#flushQueued = true;
      queueMicrotask(() => this.flush());
    }
  }

  flush(): void {
    this.#flushQueued = false;
    if (this.#ids.length === 0 || this.#fd === undefined) return;
    const ids = Uint32Array.from(this.#ids);
    const accepts = Uint8Array.from(this.#accepts);
    this.#ids = [];
    this.#accepts = [];
    this.#native.nfqVerdict(this.#fd, this.queueNum, ids, accepts);
  }

  /** Send what is pending and unbind (the kernel drops what is still held; `bypass` lets new SYNs by). */
  close(): void {
    try {
      this.flush();
    } catch {
      // closing anyway
    }
    this.#pump?.grant(this.#fastSeen);
    this.#pump?.stop();
    this.#pump = undefined;
    if (this.#fd !== undefined) closeSync(this.#fd);
    this.#fd = undefined;
  }
}
