/**
 * Attribution beyond the pid (root, netns lab, cgroup v2): culprits moved
 * into cgroups with Docker-, Kubernetes- and systemd-shaped names, in the
 * lab's named network namespace. `watch --json` names each culprit's
 * container, pod, unit and netns in its incident even after it exited;
 * `ls --by container` makes one row of two culprits of one container;
 * `--container` and `--unit` filter `ls` and `watch`. Under CI a missing
 * prerequisite fails instead of skipping.
 */
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { mkdirSync, readFileSync, rmdirSync } from "node:fs";
import { after, before, test } from "node:test";
import { describeLab, droppedPorts, LAB_ADDRESS } from "./lab.js";
import { CLI, REPO, WatchProcess, runConnector } from "./watch-process.js";
import { spawnSync } from "node:child_process";

/** Where cgroup v2 is mounted (/sys/fs/cgroup, or /sys/fs/cgroup/unified on hybrid machines). */
function cgroup2Root(): string | undefined {
  try {
    for (const line of readFileSync("/proc/self/mounts", "utf8").split("\n")) {
      const [, dir, type] = line.split(" ");
      if (type === "cgroup2") return dir;
    }
  } catch {
    // not Linux
  }
  return undefined;
}

const hex = (n: number) => randomBytes(n / 2).toString("hex");
const DOCKER_ID = hex(64);
const K8S_ID = hex(64);
const POD_UID = [hex(8), hex(4), hex(4), hex(4), hex(12)].join("-");
const UNIT = `ho-attr-${process.pid}.service`;
const CGROUPS = {
  docker: `system.slice/docker-${DOCKER_ID}.scope`,
  k8s: `kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod${POD_UID.replace(/-/g, "_")}.slice/cri-containerd-${K8S_ID}.scope`,
  unit: `system.slice/${UNIT}`,
};
const ROOT = cgroup2Root();

type Proc = { pid: number; name: string; unit?: string; container?: { runtime: string; id: string; shortId: string }; pod?: { uid: string; qos: string }; netnsName?: string; exited: boolean };

function ls(args: string[]): Record<string, unknown> & { processes: (Record<string, unknown> & { pid?: number; pids?: number[]; halfOpen: number; name: string })[] } {
  const r = spawnSync(process.execPath, ["--import", "tsx", CLI, "ls", "--json", ...args], { cwd: REPO, encoding: "utf8", timeout: 60_000 });
  assert.equal(r.status, 0, r.stderr);
  return JSON.parse(r.stdout);
}

describeLab("attribution: unit, container, pod and netns (netns lab, cgroup v2)", { file: "integration/attribution", prefix: "hoattr", needs: () => (ROOT ? undefined : "needs cgroup v2 mounted (cgroup2 in /proc/self/mounts)") }, (lab) => {
  const made: string[] = [];
  before(() => {
    for (const path of Object.values(CGROUPS)) {
      let dir = ROOT as string;
      for (const part of path.split("/")) {
        dir = `${dir}/${part}`;
        try {
          mkdirSync(dir);
          made.push(dir);
        } catch (e) {
          if ((e as NodeJS.ErrnoException).code !== "EEXIST") throw e;
        }
      }
    }
  });
  after(() => {
    for (const dir of made.reverse()) {
      try {
        rmdirSync(dir);
      } catch {
        // still populated by a process that has not exited yet; the kernel frees it when it goes
      }
    }
  });
  const cg = (which: keyof typeof CGROUPS) => `${ROOT}/${CGROUPS[which]}`;
  const names = ["ho-attr-a", "ho-attr-b", "ho-attr-c", "ho-attr-d"];

  test("the incident names each culprit's container, pod, unit and netns after they exited", async () => {
    const w = new WatchProcess(["--interval", "0", "--limit", "5", "--quiet", "0.5", "--comm", names.join(",")]);
    after(() => w.stop());
    await w.waitFor((l) => l.type === "start");
    const spec = (title: string, from: number) => ({ title, host: LAB_ADDRESS, ports: droppedPorts(4, from), holdMs: 1500 });
    const [a, b, c, d] = await Promise.all([
      runConnector(lab, spec("ho-attr-a", 0), { cgroup: cg("docker") }),
      runConnector(lab, spec("ho-attr-b", 10), { cgroup: cg("docker") }),
      runConnector(lab, spec("ho-attr-c", 20), { cgroup: cg("k8s") }),
      runConnector(lab, spec("ho-attr-d", 30), { cgroup: cg("unit") }),
    ]);
    await Promise.all([a!.exited, b!.exited, c!.exited, d!.exited]);
    const incident = await w.waitFor((l) => l.type === "incident");
    assert.equal(await w.stop(), 0, w.stderr);
    const byPid = new Map((incident.processes as Proc[]).map((p) => [p.pid, p]));
    const docker = { runtime: "docker", id: DOCKER_ID, shortId: DOCKER_ID.slice(0, 12) };
    for (const x of [a!, b!]) {
      assert.deepEqual(byPid.get(x.pid)?.container, docker);
      assert.equal(byPid.get(x.pid)?.unit, `docker-${DOCKER_ID}.scope`);
    }
    assert.deepEqual(byPid.get(c!.pid)?.container, { runtime: "containerd", id: K8S_ID, shortId: K8S_ID.slice(0, 12) });
    assert.deepEqual(byPid.get(c!.pid)?.pod, { uid: POD_UID, qos: "burstable" });
    assert.equal(byPid.get(d!.pid)?.unit, UNIT);
    assert.equal(byPid.get(d!.pid)?.container, undefined);
    for (const p of byPid.values()) {
      assert.equal(p.netnsName, lab.name, `${p.name}: the lab's named namespace`);
      assert.equal(p.exited, true, `${p.name} had exited; its attribution was read at its first attempt`);
    }
  });

  test("ls --by container groups two culprits of one container; --container, --unit and --netns filter ls and watch", async () => {
    const spec = (title: string, from: number) => ({ title, host: LAB_ADDRESS, ports: droppedPorts(4, from), holdMs: 8000 });
    // watch with --container: only the Docker container's two culprits count against the limit.
    const onlyDocker = new WatchProcess(["--interval", "0", "--limit", "5", "--container", DOCKER_ID.slice(0, 8)]);
    const onlyUnit = new WatchProcess(["--interval", "0", "--limit", "3", "--unit", UNIT]);
    await Promise.all([onlyDocker.waitFor((l) => l.type === "start"), onlyUnit.waitFor((l) => l.type === "start")]);
    const [a, b, c, d] = await Promise.all([
      runConnector(lab, spec("ho-attr-a", 100), { cgroup: cg("docker") }),
      runConnector(lab, spec("ho-attr-b", 110), { cgroup: cg("docker") }),
      runConnector(lab, spec("ho-attr-c", 120), { cgroup: cg("k8s") }),
      runConnector(lab, spec("ho-attr-d", 130), { cgroup: cg("unit") }),
    ]);
    try {
    const grouped = ls(["--by", "container", "--comm", names.join(",")]);
    const rows = grouped.processes.map((g) => [g.name, g.halfOpen, g.pids]);
    assert.deepEqual(rows[0], [`docker ${DOCKER_ID.slice(0, 12)}`, 8, [a!.pid, b!.pid].sort((x, y) => x - y)], "the two culprits of the container are one row, first");
    assert.deepEqual(
      rows.slice(1).sort((x, y) => String(x[0]).localeCompare(String(y[0]))),
      [
        ["(host)", 4, [d!.pid]],
        [`containerd ${K8S_ID.slice(0, 12)}`, 4, [c!.pid]],
      ],
    );
    assert.deepEqual(ls(["--container", DOCKER_ID.slice(0, 12)]).processes.map((p) => p.pid).sort(), [a!.pid, b!.pid].sort());
    assert.deepEqual(ls(["--unit", UNIT]).processes.map((p) => p.pid), [d!.pid]);
    assert.deepEqual(ls(["--netns", lab.name, "--comm", names.join(",")]).processes.length, 4);
    const text = spawnSync(process.execPath, ["--import", "tsx", CLI, "ls", "--container", POD_UID, "--width", "80"], { cwd: REPO, encoding: "utf8" });
    assert.match(text.stdout, new RegExp(`^ {8}in: containerd ${K8S_ID.slice(0, 12)}, pod ${POD_UID.slice(0, 8)} \\(burstable\\), netns ${lab.name.slice(0, 5)}`, "m"));
    for (const line of text.stdout.split("\n")) assert.ok(line.length <= 79, line);

    const incident = await onlyDocker.waitFor((l) => l.type === "incident-open");
    assert.deepEqual((incident.processes as Proc[]).map((p) => p.pid).sort(), [a!.pid, b!.pid].sort(), "only the container's culprits are counted");
    await Promise.all([a!.exited, b!.exited, c!.exited, d!.exited]);
    assert.equal(await onlyDocker.stop(), 0, onlyDocker.stderr);
    assert.equal(await onlyUnit.stop(), 0, onlyUnit.stderr);
    const stop = onlyUnit.lines.find((l) => l.type === "stop") as unknown as { attempts: number; processes: { pid: number }[]; incidents: number };
    assert.deepEqual([stop.attempts, stop.processes.map((p) => p.pid), stop.incidents], [4, [d!.pid], 1]);
    } finally {
      await Promise.all([onlyDocker.stop(), onlyUnit.stop()]);
    }
  });
});
