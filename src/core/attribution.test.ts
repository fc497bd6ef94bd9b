import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { attributionFilter, groupKey, whereText } from "./attribution.js";
import type { ProcessInfo } from "./events.js";
import { TcpState } from "./tcp-state.js";
import { groupByProcess, type SocketRow } from "./socket-table.js";

const ID = "a2ffe0e97ac22657a2a023ad628e9df837c38a03b1ebc904d3f6d644eb1a1a81";
const web: ProcessInfo = { pid: 10, name: "python3", unit: `docker-${ID}.scope`, slice: "system.slice", container: { runtime: "docker", id: ID, shortId: ID.slice(0, 12) }, netns: 4026532300, netnsName: "blue" };
const worker: ProcessInfo = { pid: 11, name: "python3", container: web.container!, netns: 4026532300 };
const pod: ProcessInfo = { pid: 12, name: "java", container: { runtime: "containerd", id: "ee".padEnd(64, "4"), shortId: "ee4444444444" }, pod: { uid: "0125ec2f-b64a-4868-8f5b-94b56cbab864", qos: "besteffort" } };
const service: ProcessInfo = { pid: 13, name: "nginx", unit: "nginx.service", slice: "system.slice", netns: 4026531840 };

describe("attribution", () => {
  it("groups a process by unit, container or netns, with a label", () => {
    assert.deepEqual(groupKey(web, "container"), { key: `docker:${ID}`, label: "docker a2ffe0e97ac2" });
    assert.deepEqual(groupKey(service, "container"), { key: "(host)", label: "(host)" });
    assert.deepEqual(groupKey(service, "unit"), { key: "nginx.service", label: "nginx.service" });
    assert.deepEqual(groupKey(web, "netns"), { key: "name:blue", label: "blue" });
    assert.deepEqual(groupKey(service, "netns"), { key: "ino:4026531840", label: "net:[4026531840]" });
  });

  it("says where a process runs, without repeating a container's own scope", () => {
    assert.equal(whereText(web), "docker a2ffe0e97ac2, netns blue");
    assert.equal(whereText(pod), "containerd ee4444444444, pod 0125ec2f (besteffort)");
    assert.equal(whereText(service), "nginx.service");
    assert.equal(whereText({ pid: 1, name: "x" } as ProcessInfo), undefined);
  });

  it("filters by unit or slice, container id (full, short, 4+ hex prefix), pod UID, netns name or inode", () => {
    const keep = (f: Parameters<typeof attributionFilter>[0]) => [web, worker, pod, service].filter((p) => attributionFilter(f)!(p)).map((p) => p.pid);
    assert.deepEqual(keep({ unit: ["nginx.service"] }), [13]);
    assert.deepEqual(keep({ unit: ["system.slice"] }), [10, 13]);
    assert.deepEqual(keep({ container: ["a2ff"] }), [10, 11]);
    assert.deepEqual(keep({ container: ["a2f"] }), [], "fewer than 4 digits match nothing");
    assert.deepEqual(keep({ container: [ID] }), [10, 11]);
    assert.deepEqual(keep({ container: ["0125ec2f-b64a-4868-8f5b-94b56cbab864"] }), [12]);
    assert.deepEqual(keep({ netns: ["blue"] }), [10]);
    assert.deepEqual(keep({ netns: ["4026532300"] }), [10, 11]);
    assert.deepEqual(keep({ container: ["a2ff"], netns: ["blue"] }), [10], "lists combine with and");
    assert.equal(attributionFilter({}), undefined);
  });

  it("ls --by container: two processes of one container are one row with their sum; unowned sockets stay counted", () => {
    const row = (pid: number | undefined, port: number): SocketRow => ({ key: `${pid}-${port}`, family: 4, state: TcpState.SYN_SENT, local: { address: "198.18.9.9", port: 40000 + port }, remote: { address: "198.18.0.1", port }, ...(pid === undefined ? {} : { pid }) }) as SocketRow;
    const rows = [...[1, 2, 3].map((p) => row(10, p)), ...[4, 5].map((p) => row(11, p)), row(13, 6), row(undefined, 7)];
    const processes = new Map([web, worker, service].map((p) => [p.pid, p]));
    const groups = groupByProcess(rows, processes, { by: "container" });
    assert.deepEqual(
      groups.map((g) => [g.name, g.halfOpen, g.pids, g.group?.key]),
      [
        ["docker a2ffe0e97ac2", 5, [10, 11], `docker:${ID}`],
        ["(host)", 1, [13], "(host)"],
        ["(owner unknown)", 1, undefined, undefined],
      ],
    );
    const byProcess = groupByProcess(rows, processes);
    assert.deepEqual(byProcess.find((g) => g.pid === 10)?.container, web.container, "process rows carry where they run");
  });
});
