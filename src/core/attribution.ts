/**
 * Where a process runs, beyond its pid: the systemd unit, the container
 * (and Kubernetes pod) and the network namespace, as read from its cgroup
 * and /run/netns when its first attempt was seen (platform/linux:
 * cgroup-parse.ts, process-info.ts). This file holds what the rest of
 * halfopen does with them: the key a process is grouped under (`ls --by`,
 * the per-unit and per-container metrics), the filters (`--unit`,
 * `--container`, `--netns`) and the short text shown under a process. Pure.
 *
 * @example
 * ```ts
 * import { attributionFilter, groupKey, whereText } from "halfopen";
 * const id = "3f2a".padEnd(64, "0");
 * const p = { pid: 7, name: "python3", unit: `docker-${id}.scope`, container: { runtime: "docker", id, shortId: id.slice(0, 12) } };
 * const key = groupKey(p, "container"); // { key: "docker:3f2a000…", label: "docker 3f2a00000000" }
 * const keep = attributionFilter({ container: ["3f2a"] });
 * if (!keep?.(p) || key.label !== "docker 3f2a00000000" || whereText(p) !== "docker 3f2a00000000") throw new Error("attribution example");
 * ```
 */
import type { ProcessInfo } from "./events.js";

/** What `ls --by` groups by. */
export const GROUP_BY = ["process", "unit", "container", "netns"] as const;
export type GroupBy = (typeof GROUP_BY)[number];

/** The label of a process outside any unit, container or named namespace. */
export const NO_UNIT = "(no unit)";
export const HOST = "(host)";

/** The group a process belongs to by `by` (not "process"): a stable key and a short label. */
export function groupKey(p: ProcessInfo | undefined, by: Exclude<GroupBy, "process">): { key: string; label: string } {
  switch (by) {
    case "unit": {
      const unit = p?.unit ?? NO_UNIT;
      return { key: unit, label: unit };
    }
    case "container": {
      const c = p?.container;
      if (!c) return p?.pod ? { key: `pod:${p.pod.uid}`, label: `pod ${p.pod.uid}` } : { key: HOST, label: HOST };
      return { key: `${c.runtime}:${c.id}`, label: `${c.runtime} ${c.shortId}` };
    }
    case "netns": {
      if (p?.netnsName) return { key: `name:${p.netnsName}`, label: p.netnsName };
      if (p?.netns !== undefined) return { key: `ino:${p.netns}`, label: `net:[${p.netns}]` };
      return { key: "?", label: "?" };
    }
  }
}

/** `docker a2ffe0e97ac2, pod 9a18ffb8 (besteffort), nginx.service, netns blue`: what is known, or undefined. */
export function whereText(p: Pick<ProcessInfo, "unit" | "container" | "pod" | "netnsName">): string | undefined {
  const parts: string[] = [];
  if (p.container) parts.push(`${p.container.runtime} ${p.container.shortId}`);
  // The first 8 digits of a pod UID, as a container's 12: the whole one is in --json.
  if (p.pod) parts.push(`pod ${p.pod.uid.slice(0, 8)} (${p.pod.qos})`);
  // A container's own scope unit says nothing more than the container.
  if (p.unit && !(p.container && p.unit.includes(p.container.id))) parts.push(p.unit);
  if (p.netnsName) parts.push(`netns ${p.netnsName}`);
  return parts.length > 0 ? parts.join(", ") : undefined;
}

export interface AttributionFilter {
  /** Unit or slice names, exactly (`nginx.service`, `user-1000.slice`). */
  unit?: string[];
  /** Container ids or their prefixes (at least 4 hex digits), LXC names, or pod UIDs. */
  container?: string[];
  /** Names under /run/netns, or namespace inode numbers. */
  netns?: string[];
}

/** The test of `--unit`, `--container`, `--netns` (each list: any of; the lists: all of), or undefined when none is given. */
export function attributionFilter(f: AttributionFilter): ((p: ProcessInfo) => boolean) | undefined {
  const units = f.unit?.length ? new Set(f.unit) : undefined;
  const containers = f.container?.length ? f.container : undefined;
  const netns = f.netns?.length ? new Set(f.netns) : undefined;
  if (!units && !containers && !netns) return undefined;
  return (p) =>
    (!units || (p.unit !== undefined && units.has(p.unit)) || (p.slice !== undefined && units.has(p.slice))) &&
    (!containers || containers.some((c) => matchesContainer(p, c))) &&
    (!netns || (p.netnsName !== undefined && netns.has(p.netnsName)) || (p.netns !== undefined && netns.has(String(p.netns))));
}

function matchesContainer(p: ProcessInfo, wanted: string): boolean {
  const c = p.container;
  if (c && (c.id === wanted || c.shortId === wanted || (wanted.length >= 4 && /^[0-9a-f]+$/.test(wanted) && c.id.startsWith(wanted)))) return true;
  return p.pod !== undefined && p.pod.uid === wanted;
}
