/**
 * The NFQUEUE queue `watch --enforce` holds SYNs in: the native helper's
 * netlink socket (nfqOpen), woken by its poll thread (watchReadable), read
 * and parsed (nfqueue.ts) in batches, and verdicts sent many to a syscall,
 * flushed once the current JavaScript turn is done. Packets whose headers
 * cannot be read are let go at once (never hold what we cannot judge).
 *
 * Needs: the native helper, root. Not part of the pure core.
 */
import { closeSync } from "node:fs";
import { ErrorCodes, HalfOpenError } from "../../errors.js";
import type { NativeHelper } from "./native.js";
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

const READ_BYTES = 1 << 20;

export class EnforceQueue {
  readonly queueNum: number;
  readonly stats: EnforceQueueStats = { packets: 0, overflows: 0, unreadable: 0, verdictErrors: 0 };
  readonly #native: NativeHelper;
  #fd: number | undefined;
  #waker?: { rearm(): void; stop(): void };
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

  /** Deliver packets as they come. */
  start(onPackets: (packets: QueuedPacket[]) => void): void {
    const fd = this.#fd;
    if (fd === undefined) return;
    this.#waker = this.#native.watchReadable(Int32Array.of(fd), () => {
      if (this.#fd === undefined) return;
      // Read what is there now (bounded, so the JS thread also serves the monitor), then sleep until more comes.
      for (let round = 0; round < 8; round++) {
        const r = this.#native.nfqRead(fd, READ_BYTES);
        this.stats.overflows += r.overflows;
        if (r.messages.length === 0) break;
        const parsed = parseQueueMessages(r.messages);
        this.stats.packets += parsed.packets.length + parsed.unreadable.length;
        this.stats.verdictErrors += parsed.errors.length;
        for (const id of parsed.unreadable) {
          this.stats.unreadable++;
          this.verdict(id, true);
        }
        if (parsed.packets.length > 0) onPackets(parsed.packets);
        if (r.messages.length < READ_BYTES / 2) break;
      }
      this.flush();
      this.#waker?.rearm();
    });
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
    this.#waker?.stop();
    this.#waker = undefined;
    if (this.#fd !== undefined) closeSync(this.#fd);
    this.#fd = undefined;
  }
}
