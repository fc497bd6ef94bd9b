/**
 * What a process's cgroup says about where it runs: the systemd unit and
 * slice, the container (Docker, containerd, CRI-O, Podman, LXC) with its
 * id, and the Kubernetes pod with its QoS class. Pure: text of
 * /proc/PID/cgroup in, records out (fixtures: test/fixtures/linux/cgroup/,
 * each from a public report).
 *
 * /proc/PID/cgroup has one line per hierarchy, `ID:CONTROLLERS:PATH`
 * (man 7 cgroups): `0::PATH` is cgroup v2; v1 lines name their controllers,
 * `name=systemd` being systemd's own tree. On hybrid machines the v2 line
 * may say little (`0::/`) or the wrong thing (a Docker container under the
 * cgroupfs driver shows `0::/system.slice/containerd.service`), so every
 * path is classified and the first that names a container wins, trying v2,
 * then name=systemd, then the controllers. The shapes recognised, by the
 * last path segments:
 *
 *   docker-<id>.scope                 Docker, systemd driver     docker/<id>          Docker, cgroupfs driver
 *   cri-containerd-<id>.scope         containerd (Kubernetes)    X.slice:cri-containerd:<id>   the same, v1 form
 *   crio-<id>.scope                   CRI-O                       libpod-<id>.scope    Podman (rootful or rootless)
 *   lxc.payload.<name>, lxc.payload/<name>, lxc/<name>             LXC / LXD
 *   kubepods-<qos>-pod<uid>.slice, kubepods/<qos>/pod<uid>         Kubernetes pod (no <qos>: guaranteed)
 *   kubepods/.../pod<uid>/<id>                                     a pod's container, runtime not named ("cri")
 *
 * The unit is the innermost segment with a systemd unit suffix (.service,
 * .scope, ...), the slice the innermost `.slice`. Paths are chosen by
 * whoever creates the cgroup: they are kept as written (display code
 * escapes them), cut at MAX_CGROUP_PATH characters.
 */
import type { ContainerRef, PodRef } from "../../core/events.js";

/** Longest cgroup path kept; longer ones are cut and marked. */
export const MAX_CGROUP_PATH = 1024;

export interface CgroupLine {
  hierarchy: number;
  /** Controllers of a v1 hierarchy (`name=systemd` for systemd's); empty for v2. */
  controllers: string[];
  path: string;
}

export interface CgroupAttribution {
  cgroup?: string;
  unit?: string;
  slice?: string;
  container?: ContainerRef;
  pod?: PodRef;
  /** The path was longer than MAX_CGROUP_PATH and was cut. */
  truncated?: true;
}

/** The lines of /proc/PID/cgroup; malformed ones are skipped. */
export function parseProcCgroup(text: string): CgroupLine[] {
  const out: CgroupLine[] = [];
  for (const line of text.split("\n")) {
    const a = line.indexOf(":");
    const b = a < 0 ? -1 : line.indexOf(":", a + 1);
    if (b < 0) continue;
    const hierarchy = Number(line.slice(0, a));
    const path = line.slice(b + 1);
    if (!Number.isInteger(hierarchy) || hierarchy < 0 || !path.startsWith("/")) continue;
    const controllers = line.slice(a + 1, b);
    out.push({ hierarchy, controllers: controllers === "" ? [] : controllers.split(","), path });
  }
  return out;
}

const HEX64 = /^[0-9a-f]{64}$/;
const UNIT_SUFFIX = /\.(service|scope|socket|mount|swap|timer|target|path|device)$/;
const SCOPED: [RegExp, string][] = [
  [/^docker-([0-9a-f]{64})\.scope$/, "docker"],
  [/^cri-containerd-([0-9a-f]{64})\.scope$/, "containerd"],
  [/^crio-([0-9a-f]{64})\.scope$/, "cri-o"],
  [/^libpod-([0-9a-f]{64})\.scope$/, "podman"],
];
const POD_SLICE = /^(?:[a-z]+-)?kubepods(?:-(besteffort|burstable))?-pod([0-9a-f_]{36})\.slice$/;
const POD_DIR = /^pod([0-9a-f-]{36})$/;
/** containerd's v1 form under the systemd driver: `<pod slice>:cri-containerd:<id>`. */
const COLON_FORM = /^(.+\.slice):([a-z-]+):([0-9a-f]{64})$/;

function container(runtime: string, id: string): ContainerRef {
  return { runtime, id, shortId: HEX64.test(id) ? id.slice(0, 12) : id };
}

/** What one cgroup path says (see the header for the shapes). */
export function classifyCgroupPath(path: string): Omit<CgroupAttribution, "cgroup" | "truncated"> {
  const segments: string[] = [];
  for (const s of path.split("/")) {
    if (s === "") continue;
    const colon = COLON_FORM.exec(s);
    if (colon) segments.push(colon[1] as string, `${colon[2]}-${colon[3]}.scope`);
    else segments.push(s);
  }
  const out: Omit<CgroupAttribution, "cgroup" | "truncated"> = {};
  let qos: string | undefined;
  for (let i = 0; i < segments.length; i++) {
    const s = segments[i] as string;
    const prev = segments[i - 1];
    if (s.endsWith(".slice")) out.slice = s;
    else if (UNIT_SUFFIX.test(s)) out.unit = s;
    for (const [re, runtime] of SCOPED) {
      const m = re.exec(s);
      if (m) out.container = container(runtime, m[1] as string);
    }
    if (HEX64.test(s) && prev === "docker") out.container = container("docker", s);
    else if (HEX64.test(s) && prev !== undefined && POD_DIR.test(prev)) out.container = container("cri", s);
    const lxc = /^lxc\.payload\.(.+)$/.exec(s);
    if (lxc) out.container = container("lxc", lxc[1] as string);
    else if ((prev === "lxc.payload" || prev === "lxc") && i === segments.indexOf(prev) + 1) out.container = container("lxc", s);
    const podSlice = POD_SLICE.exec(s);
    if (podSlice) out.pod = { uid: (podSlice[2] as string).replace(/_/g, "-"), qos: podSlice[1] ?? "guaranteed" };
    if (s === "besteffort" || s === "burstable") qos = s;
    const podDir = POD_DIR.exec(s);
    if (podDir && segments.includes("kubepods")) out.pod = { uid: podDir[1] as string, qos: qos ?? "guaranteed" };
  }
  return out;
}

/** Read /proc/PID/cgroup text: the path that says the most, and what it says. */
export function attributeCgroup(text: string): CgroupAttribution {
  const lines = parseProcCgroup(text);
  const v2 = lines.find((l) => l.hierarchy === 0 && l.controllers.length === 0)?.path;
  const systemd = lines.find((l) => l.controllers.includes("name=systemd"))?.path;
  const candidates = [...new Set([v2, systemd, ...lines.map((l) => l.path)].filter((p): p is string => p !== undefined && p !== "/"))];
  if (candidates.length === 0) return lines.length > 0 ? { cgroup: "/" } : {};
  const classified = candidates.map((path) => ({ path, what: classifyCgroupPath(path) }));
  const best = classified.find((c) => c.what.container) ?? classified[0]!;
  const out: CgroupAttribution = { ...best.what, cgroup: best.path };
  if (best.path.length > MAX_CGROUP_PATH) {
    out.cgroup = best.path.slice(0, MAX_CGROUP_PATH);
    out.truncated = true;
  }
  return out;
}
