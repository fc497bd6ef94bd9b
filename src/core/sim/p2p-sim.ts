/**
 * A P2P client filling its peer set under a half-open policy: does patching
 * the XP limit away make downloads faster (the seed article says no)? Pure
 * and deterministic for a seed.
 *
 * The client walks its peer list (shuffled by the seed) with at most
 * `concurrency` connects of its own in flight (uTorrent's net.max_halfopen
 * was 8), until `wantConnections` peers are connected. A live peer answers
 * `rttMs` after the attempt starts and stays connected; a dead one holds
 * the attempt's slot for `timeoutMs` (XP: 21 s of SYN retries). Each
 * connected peer uploads `peerRateKBs`; the client downloads at most
 * `capKBs` (its own line). The policy (a gate, gate.ts) decides when an
 * attempt may start.
 */
import { type GateTicket, type SimPolicy, makeGate } from "./gate.js";
import { seededRandom } from "./scan-sim.js";
import { SimClock } from "./sim-clock.js";

/** Any gate policy (gate.ts). */
export type P2pPolicy = SimPolicy;

export interface P2pSimSpec {
  peers: number;
  /** Share of the peer list that never answers, 0 to 1. */
  dead: number;
  rttMs?: number;
  timeoutMs: number;
  wantConnections: number;
  /** The client's own limit on connects in flight. Default: no limit. */
  concurrency?: number;
  peerRateKBs: number;
  capKBs: number;
  durationMs: number;
  policy: P2pPolicy;
  seed?: number;
}

export interface P2pSimResult {
  policy: P2pPolicy;
  /** Peers connected at the end. */
  connected: number;
  /** When the download first ran at its cap (ms), if it did. */
  fullRateAtMs?: number;
  /** KB downloaded over `durationMs`, and the mean rate. */
  downloadedKB: number;
  meanRateKBs: number;
  /** Download rate (KB/s) over time: one point per change. */
  rate: { t: number; kbs: number }[];
}

export function simulateP2p(spec: P2pSimSpec): P2pSimResult {
  if (!(spec.dead >= 0 && spec.dead <= 1)) throw new RangeError(`Cannot use dead ${spec.dead}: expected a share from 0 to 1`);
  if (!(spec.peers >= 0 && Number.isInteger(spec.peers)) || !(spec.wantConnections >= 1)) throw new RangeError("Cannot simulate: peers must be a whole number and wantConnections at least 1");
  const clock = new SimClock();
  const random = seededRandom(spec.seed ?? 1);
  const rtt = spec.rttMs ?? 50;
  const live = Array.from({ length: spec.peers }, () => random() >= spec.dead);
  const gate = makeGate(spec.policy, clock);
  const concurrency = spec.concurrency ?? spec.peers;
  let connected = 0;
  let inFlight = 0;
  let next = 0;
  const rate: { t: number; kbs: number }[] = [{ t: 0, kbs: 0 }];
  let fullRateAtMs: number | undefined;
  const kbs = () => Math.min(spec.capKBs, connected * spec.peerRateKBs);

  const pump = () => {
    while (inFlight < concurrency && next < spec.peers && connected + inFlight < spec.wantConnections) {
      const i = next++;
      inFlight++;
      const begin = () => {
        const answered = live[i] === true;
        clock.setTimer(() => {
          gate.finish(ticket, answered);
          inFlight--;
          if (answered && clock.now() <= spec.durationMs) {
            connected++;
            rate.push({ t: clock.now(), kbs: kbs() });
            if (fullRateAtMs === undefined && kbs() >= spec.capKBs) fullRateAtMs = clock.now();
          }
          pump();
        }, answered ? rtt : spec.timeoutMs);
      };
      const ticket: GateTicket = gate.request({ process: "p2p", destination: `peer${i}`, start: begin });
    }
  };
  pump();
  clock.run(spec.durationMs);
  // KB downloaded: the rate steps integrated up to the end.
  let downloaded = 0;
  rate.forEach((p, j) => {
    const end = Math.min(rate[j + 1]?.t ?? spec.durationMs, spec.durationMs);
    if (end > p.t) downloaded += (p.kbs * (end - p.t)) / 1000;
  });
  const result: P2pSimResult = { policy: spec.policy, connected, downloadedKB: downloaded, meanRateKBs: downloaded / (spec.durationMs / 1000), rate };
  if (fullRateAtMs !== undefined) result.fullRateAtMs = fullRateAtMs;
  return result;
}
