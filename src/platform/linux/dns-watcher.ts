/**
 * DnsWatcher: the DNS answers this host receives, for names in the output
 * and DNS-aware verdicts (core/name-map.ts, scan-detector.ts). In each
 * network namespace it knows, one AF_PACKET socket whose classic BPF filter
 * keeps only incoming UDP from port 53 (native helper: captureOpen kind 1),
 * which also sees the local stub resolver's answers on loopback
 * (127.0.0.53). Namespaces: ours and every one found at start (processes'
 * /proc/PID/ns/net and the names under /run/netns), a name added under
 * /run/netns later (looked for every 5 s), and the namespace of any process
 * the source sees connect (`ensure`). Answers come out as `dns` events.
 *
 * Caveats: DNS over TCP, DoT and DoH are not seen (encrypted or streamed);
 * answers that reach a namespace before it is known are missed; at most
 * MAX_NAMESPACES namespaces are watched.
 */
import { closeSync, readdirSync, statSync } from "node:fs";
import type { ConnectionEvent } from "../../core/events.js";
import { parseDnsResponse } from "../../core/dns-message.js";
import type { NoteLog } from "../../core/note-log.js";
import type { NativeHelper } from "./native.js";
import { tryReadlink } from "./process-info.js";
import { parseNamespaceLink } from "./procfs-parse.js";
import { parseDatagrams } from "./raw-capture.js";

const MAX_NAMESPACES = 1024;
const DNS_SNAP = 2048;

export interface DnsWatcherOptions {
  native: NativeHelper;
  procRoot: string;
  notes: NoteLog;
  emit: (events: ConnectionEvent[]) => void;
}

interface Capture {
  netns: number;
  fds: Int32Array;
  waker: { rearm(): void; stop(): void };
}

export class DnsWatcher {
  readonly #o: DnsWatcherOptions;
  readonly #captures = new Map<number, Capture>();
  /** Namespaces that could not be opened: not retried. */
  readonly #failed = new Set<number>();
  #timer?: NodeJS.Timeout;
  #answers = 0;
  #stopped = false;

  constructor(options: DnsWatcherOptions) {
    this.#o = options;
  }

  get details(): Record<string, number> {
    return { dnsNamespaces: this.#captures.size, dnsAnswers: this.#answers };
  }

  /** Ours, every namespace with a process in it, and the named ones. */
  start(): void {
    const self = parseNamespaceLink(tryReadlink(`${this.#o.procRoot}/self/ns/net`) ?? "");
    if (self !== undefined) this.#open(self, "");
    for (const name of readdirSync(this.#o.procRoot)) {
      if (!/^\d+$/.test(name)) continue;
      const ns = parseNamespaceLink(tryReadlink(`${this.#o.procRoot}/${name}/ns/net`) ?? "");
      if (ns !== undefined) this.ensure(ns, Number(name));
    }
    this.#named();
    this.#timer = setInterval(() => this.#named(), 5000);
    this.#timer.unref();
  }

  /** The namespaces named under /run/netns (`ip netns add`): each file is the namespace, its inode the namespace's. */
  #named(): void {
    let names: string[];
    try {
      names = readdirSync("/run/netns");
    } catch {
      return;
    }
    for (const n of names) {
      const path = `/run/netns/${n}`;
      try {
        this.#open(statSync(path).ino, path);
      } catch {
        // removed meanwhile
      }
    }
  }

  /** Watch the namespace `netns` (of process `pid`) if it is not yet. */
  ensure(netns: number, pid: number): void {
    // Every connect asks: the namespace of the last one answers most of them without a lookup.
    if (netns === this.#lastEnsured) return;
    if (!this.#captures.has(netns) && !this.#failed.has(netns)) this.#open(netns, `${this.#o.procRoot}/${pid}/ns/net`);
    if (this.#captures.has(netns) || this.#failed.has(netns)) this.#lastEnsured = netns;
  }

  #lastEnsured?: number;

  #open(netns: number, path: string): void {
    if (this.#stopped || this.#captures.has(netns) || this.#failed.has(netns)) return;
    if (this.#captures.size >= MAX_NAMESPACES) {
      this.#failed.add(netns);
      this.#o.notes.add(`DNS answers: more than ${MAX_NAMESPACES} network namespaces; names are not seen in the rest`);
      return;
    }
    let fds: Int32Array;
    try {
      fds = this.#o.native.captureOpen(path, 1, 1);
    } catch (e) {
      this.#failed.add(netns);
      const code = (e as NodeJS.ErrnoException).code;
      if (code !== "ENOENT" && code !== "ESRCH") this.#o.notes.add(`DNS answers: cannot watch network namespace ${netns} (${(e as Error).message}); names are not seen there`);
      return;
    }
    const capture: Capture = {
      netns,
      fds,
      waker: this.#o.native.watchReadable(fds, () => {
        this.#read(capture);
        capture.waker.rearm();
      }),
    };
    this.#captures.set(netns, capture);
    this.#all = undefined;
  }

  /**
   * Read every namespace's answers now. The source calls this before it
   * releases connects: a program connects after its answer arrived, so the
   * answer is already in our socket and goes out first.
   */
  drain(): void {
    const all = this.#allOf();
    // One system call says which namespaces hold answers (usually none): a host with a hundred containers would
    // otherwise pay a hundred reads at every read of the trace buffers.
    if (all && this.#o.native.pollReadable(all.fds, all.ready) > 0) this.drainReady(all.ready, 0);
  }

  /**
   * Every capture's sockets, in one array (a new one when the captures change; undefined while there are none): a
   * caller that polls them with its own descriptors, in one system call, then calls drainReady instead of drain.
   */
  get fds(): Int32Array | undefined {
    return this.#allOf()?.fds;
  }

  /** drain() with the poll done by the caller: `ready[offset + i]` says whether `fds[i]` is readable. */
  drainReady(ready: Uint8Array, offset: number): void {
    const all = this.#all;
    if (!all) return;
    let at = offset;
    for (const c of all.list) {
      let any = false;
      for (let i = 0; i < c.fds.length; i++) if (ready[at + i]) any = true;
      at += c.fds.length;
      if (any) this.#read(c);
    }
  }

  #allOf(): { list: Capture[]; fds: Int32Array; ready: Uint8Array } | undefined {
    if (this.#captures.size === 0) return undefined;
    if (!this.#all) {
      const list = [...this.#captures.values()];
      const fds = Int32Array.from(list.flatMap((c) => [...c.fds]));
      this.#all = { list, fds, ready: new Uint8Array(fds.length) };
    }
    return this.#all;
  }

  /** Every capture's sockets in one list, for drain(); made again when the captures change. */
  #all?: { list: Capture[]; fds: Int32Array; ready: Uint8Array };

  #read(c: Capture): void {
    if (this.#stopped) return;
    const events: ConnectionEvent[] = [];
    for (let round = 0; round < 16; round++) {
      const buf = this.#o.native.captureRead(c.fds, 256, DNS_SNAP);
      if (!buf) break;
      for (const d of parseDatagrams(buf).datagrams) {
        if (d.sport !== 53) continue;
        for (const a of parseDnsResponse(d.payload) ?? []) {
          this.#answers++;
          events.push({ type: "dns", time: d.timeNs / 1e6, address: a.address, name: a.name, ttl: a.ttl, netns: c.netns });
        }
      }
    }
    if (events.length > 0) this.#o.emit(events);
  }

  stop(): void {
    if (this.#stopped) return;
    this.#stopped = true;
    clearInterval(this.#timer);
    for (const c of this.#captures.values()) {
      c.waker.stop();
      for (const fd of c.fds) {
        try {
          closeSync(fd);
        } catch {
          // closed
        }
      }
    }
    this.#captures.clear();
    this.#all = undefined;
  }
}
