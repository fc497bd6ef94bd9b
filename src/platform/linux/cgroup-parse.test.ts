import assert from "node:assert/strict";
import { readdirSync } from "node:fs";
import { describe, it } from "node:test";
import fc from "fast-check";
import { FIXTURES, fixtureText } from "../../../test/support/fixtures.js";
import { MAX_CGROUP_PATH, attributeCgroup, classifyCgroupPath, parseProcCgroup } from "./cgroup-parse.js";

const read = (name: string) => attributeCgroup(fixtureText(`linux/cgroup/${name}.txt`));
const docker = (id: string) => ({ runtime: "docker", id, shortId: id.slice(0, 12) });

describe("attributeCgroup on real /proc/PID/cgroup (test/fixtures/linux/cgroup)", () => {
  it("Docker, cgroupfs driver: the container from the v1 paths, not containerd.service from the v2 line", () => {
    const a = read("docker-cgroupfs-v1");
    assert.deepEqual(a.container, docker("a2ffe0e97ac22657a2a023ad628e9df837c38a03b1ebc904d3f6d644eb1a1a81"));
    assert.equal(a.container?.shortId, "a2ffe0e97ac2");
    assert.equal(a.cgroup, "/docker/a2ffe0e97ac22657a2a023ad628e9df837c38a03b1ebc904d3f6d644eb1a1a81");
    assert.equal(a.unit, undefined);
  });

  it("Docker, systemd driver: the container and its scope unit in system.slice", () => {
    const a = read("docker-systemd-v1");
    assert.deepEqual(a.container, docker("b33dda97580e721a69fa81742190341f858ea809ec4a9d74a8cfd411b0ee7c26"));
    assert.equal(a.unit, "docker-b33dda97580e721a69fa81742190341f858ea809ec4a9d74a8cfd411b0ee7c26.scope");
    assert.equal(a.slice, "system.slice");
  });

  it("Kubernetes, cgroupfs driver: the pod (besteffort) and its container, runtime not named", () => {
    const a = read("k8s-cgroupfs-v1");
    assert.deepEqual(a.pod, { uid: "9a18ffb8-8513-11e7-b26e-7e29fbe2a5a3", qos: "besteffort" });
    assert.deepEqual(a.container, { runtime: "cri", id: "d28e0087cf8f3f0429f755d60b0de415b20fcf76736ded7bab6e30e7b739ee36", shortId: "d28e0087cf8f" });
  });

  it("Kubernetes + containerd, systemd driver, v1 colon form", () => {
    const a = read("k8s-containerd-systemd-v1");
    assert.deepEqual(a.pod, { uid: "0125ec2f-b64a-4868-8f5b-94b56cbab864", qos: "besteffort" });
    assert.equal(a.container?.runtime, "containerd");
    assert.equal(a.container?.id, "ee4b20e90ac7f42a10bd004d05646b13d8ab5e2c5e7cbc01abf8006bac016459");
  });

  it("Kubernetes + CRI-O and + Docker, systemd driver: burstable pods", () => {
    const crio = read("k8s-crio-systemd-v1");
    assert.deepEqual([crio.container?.runtime, crio.container?.shortId, crio.pod?.qos, crio.pod?.uid], ["cri-o", "5eed91756358", "burstable", "a5c1f8d5-1919-434d-add7-4afaafdaef89"]);
    assert.equal(crio.slice, "kubepods-burstable-poda5c1f8d5_1919_434d_add7_4afaafdaef89.slice");
    const dockerPod = read("k8s-docker-systemd-v1");
    assert.deepEqual([dockerPod.container?.runtime, dockerPod.pod?.uid], ["docker", "7d4424e6-bb13-42f4-a47a-45a4828bf54d"]);
  });

  it("Podman rootful and rootless; podman unshare is a scope, not a container", () => {
    const rootful = read("podman-rootful-hybrid");
    assert.deepEqual([rootful.container?.runtime, rootful.container?.shortId, rootful.slice], ["podman", "2521e906f0a0", "machine.slice"]);
    const rootless = read("podman-rootless-v2");
    assert.deepEqual([rootless.container?.runtime, rootless.container?.shortId, rootless.slice], ["podman", "5e22f237b52c", "user.slice"]);
    const unshare = read("podman-unshare-v2");
    assert.equal(unshare.container, undefined);
    assert.equal(unshare.unit, "podman-6696.scope");
  });

  it("LXC and LXD: the container's name; a service inside it keeps its unit", () => {
    const lxc = read("lxc-v1-payload");
    assert.deepEqual(lxc.container, { runtime: "lxc", id: "example", shortId: "example" });
    assert.equal(lxc.unit, "init.scope");
    const lxd = read("lxd-service-in-container");
    assert.deepEqual([lxd.container?.id, lxd.unit, lxd.slice], ["buster", "networking.service", "system.slice"]);
  });

  it("a systemd service and user sessions: unit and slice, no container", () => {
    assert.deepEqual(read("systemd-service-v2"), { cgroup: "/system.slice/nginx.service", unit: "nginx.service", slice: "system.slice" });
    const session = read("user-session-hybrid");
    assert.deepEqual([session.unit, session.slice, session.container], ["session-1.scope", "user-1000.slice", undefined]);
    const app = read("user-session-v2");
    assert.deepEqual([app.unit, app.slice], ["vte-spawn-f22f14d2-3d44-4304-9879-3fdd0df7b08e.scope", "app-org.gnome.Terminal.slice"]);
  });

  it("this machine's hybrid layout: the runtime's memory cgroup, which names no container", () => {
    const a = read("this-machine-hybrid");
    assert.equal(a.cgroup, "/process_api/b76685609328a606bfb70567aa4640b5");
    assert.equal(a.container, undefined);
  });

  it("every fixture file is covered by a test above", () => {
    const files = readdirSync(`${FIXTURES}linux/cgroup`).filter((f) => f.endsWith(".txt"));
    assert.equal(files.length, 15);
    for (const f of files) assert.ok(read(f.replace(/\.txt$/, "")).cgroup, f);
  });
});

describe("hostile cgroup paths", () => {
  it("control characters are kept as written (display escapes them) and never make a container", () => {
    const a = attributeCgroup("0::/system.slice/evil\x1b[2J\u202e.service\n");
    assert.equal(a.unit, "evil\x1b[2J\u202e.service");
    assert.equal(a.container, undefined);
    assert.equal(classifyCgroupPath("/system.slice/docker-XYZ.scope").container, undefined, "an id must be 64 hex digits");
  });

  it("a very long path is cut and marked", () => {
    const long = `/system.slice/${"a".repeat(5000)}.service`;
    const a = attributeCgroup(`0::${long}\n`);
    assert.equal(a.cgroup?.length, MAX_CGROUP_PATH);
    assert.equal(a.truncated, true);
  });

  it("malformed lines are skipped; any text parses without throwing", () => {
    assert.deepEqual(parseProcCgroup("garbage\nx:y\n-1::/a\n0::relative\n3:cpu:/ok\n"), [{ hierarchy: 3, controllers: ["cpu"], path: "/ok" }]);
    fc.assert(
      fc.property(fc.string({ maxLength: 300 }), (s) => {
        attributeCgroup(s);
      }),
    );
  });
});
