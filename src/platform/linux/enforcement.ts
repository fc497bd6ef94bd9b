/**
 * `watch --enforce` on Linux: the NFQUEUE queue (enforce-queue.ts) and the
 * rules that steer new outbound SYNs into it (enforce-rules.ts), opened and
 * closed as one. Opening removes what a killed run left (and says so), binds
 * the queue before any rule points at it, and undoes everything if a step
 * fails; closing removes the rules first, then lets every held SYN go, then
 * unbinds. The removal also runs at process exit, whatever the exit path.
 *
 * Needs: root, the native helper, nft or iptables. Not part of the pure core.
 */
import { statSync } from "node:fs";
import { ErrorCodes, HalfOpenError } from "../../errors.js";
import type { Enforcement, EnforcementOptions } from "../host.js";
import { EnforceQueue } from "./enforce-queue.js";
import { installSteering, removeLeftovers } from "./enforce-rules.js";
import { loadNative, nativeUnavailableReason } from "./native.js";

export function openEnforcement(o: EnforcementOptions): Enforcement {
  if (process.geteuid?.() !== 0) throw new HalfOpenError(ErrorCodes.ENFORCE_UNAVAILABLE, "--enforce needs root: it installs netfilter rules and holds packets (CAP_NET_ADMIN)");
  const native = loadNative();
  if (!native) throw new HalfOpenError(ErrorCodes.ENFORCE_UNAVAILABLE, `--enforce needs the native helper (${nativeUnavailableReason() ?? "not built"}); build it with \`npm rebuild halfopen\``);
  const at = o.netnsPath === undefined ? {} : { netnsPath: o.netnsPath };
  const leftovers = removeLeftovers(at);
  const queue = EnforceQueue.open({ native, queueNum: o.queueNum, maxLen: o.maxLen, ...at });
  let steering: ReturnType<typeof installSteering>;
  try {
    steering = installSteering({ queueNum: o.queueNum, loopback: o.loopback, ...at });
  } catch (e) {
    queue.close();
    throw e;
  }
  const onExit = () => steering.remove();
  process.once("exit", onExit);
  let closed = false;
  return {
    netnsInode: statSync(o.netnsPath ?? "/proc/self/ns/net").ino,
    describe: steering.describe,
    steering: steering.kind,
    leftovers,
    start: (onPackets) => queue.start(onPackets),
    grant: (free) => queue.grant(free),
    verdict: (id, accept) => queue.verdict(id, accept),
    stats: () => ({ ...queue.stats }),
    close: (releaseHeld) => {
      if (closed) return;
      closed = true;
      steering.remove();
      process.off("exit", onExit);
      try {
        releaseHeld();
      } finally {
        queue.close();
      }
    },
  };
}
