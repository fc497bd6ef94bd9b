/**
 * The operations kit: deploy/halfopen.service passes `systemd-analyze
 * verify` (with ExecStart pointed at this checkout's build), and the watch
 * command line it runs is one watch accepts (run for half a second, its
 * files moved to a temporary directory). Under CI a missing systemd-analyze
 * fails. The Kubernetes manifest (deploy/kubernetes/halfopen.yaml) validates
 * against Kubernetes 1.31's strict JSON schemas (test/fixtures/k8s/) and asks
 * for what watch needs; the image (deploy/Containerfile) runs a watch command
 * line watch accepts, the same as the DaemonSet's.
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";
import { fileURLToPath } from "node:url";
import { Ajv } from "ajv";
import { parseAllDocuments } from "yaml";

const REPO = fileURLToPath(new URL("../", import.meta.url));
const UNIT = readFileSync(join(REPO, "deploy/halfopen.service"), "utf8");
const dir = mkdtempSync(join(tmpdir(), "halfopen-deploy-"));
after(() => rmSync(dir, { recursive: true, force: true }));

const analyze = spawnSync("systemd-analyze", ["--version"]).status === 0;
const noAnalyze = analyze ? undefined : "needs systemd-analyze (Debian package systemd)";
if (noAnalyze && process.env.CI) throw new Error(`deploy test cannot run under CI: ${noAnalyze}; .ci/run must install it`);
if (noAnalyze) console.log(`# SKIP deploy unit check: ${noAnalyze}`);

/** ExecStart's arguments after the program. */
function execArgs(): string[] {
  const line = /^ExecStart=(\S+) (.*)$/m.exec(UNIT);
  assert.ok(line, "the unit has an ExecStart");
  assert.equal(line[1], "/usr/local/bin/halfopen");
  return (line[2] as string).split(" ");
}

test("the systemd unit verifies (systemd-analyze verify), hardened, with the state and log directories watch uses", { skip: noAnalyze }, () => {
  const unit = join(dir, "halfopen.service");
  writeFileSync(unit, UNIT.replace("/usr/local/bin/halfopen", `${process.execPath} ${join(REPO, "dist/cli/main.js")}`));
  const r = spawnSync("systemd-analyze", ["verify", unit], { encoding: "utf8" });
  assert.equal(r.status, 0, `${r.stdout}${r.stderr}`);
  assert.equal(`${r.stdout}${r.stderr}`.trim(), "", "no warnings");
  for (const line of ["NoNewPrivileges=yes", "ProtectSystem=strict", "StateDirectory=halfopen", "LogsDirectory=halfopen", "KillSignal=SIGINT"]) assert.ok(UNIT.includes(`\n${line}\n`), line);
  assert.match(UNIT, /^CapabilityBoundingSet=.*CAP_SYS_ADMIN.*CAP_NET_ADMIN/m);
  // What the unit leaves writable is where watch writes: root's default database and the log file.
  assert.ok(execArgs().includes("/var/log/halfopen/watch.jsonl"));
});

/** The memory cap the unit offers, commented out (#Environment=NODE_OPTIONS=...): V8's defaults run unless it is set. */
function unitNodeOptions(): string {
  assert.doesNotMatch(UNIT, /^Environment=NODE_OPTIONS=/m, "the unit runs watch with V8's defaults");
  const options = /^#Environment=NODE_OPTIONS=(.*)$/m.exec(UNIT)?.[1];
  assert.ok(options, "the unit offers the memory cap, commented out");
  return options;
}

/** This process's environment with a deployment's NODE_OPTIONS added to its own. */
function withNodeOptions(options: string): NodeJS.ProcessEnv {
  return { ...process.env, NODE_OPTIONS: `${process.env.NODE_OPTIONS ?? ""} ${options}`.trim() };
}

test("the unit's watch command line is one watch accepts, also with the memory cap it offers in NODE_OPTIONS", () => {
  const args = execArgs().map((a) => (a === "/var/log/halfopen/watch.jsonl" ? join(dir, "watch.jsonl") : a === "9465" ? "0" : a));
  assert.match(unitNodeOptions(), /--max-semi-space-size=\d+/);
  // Node refuses to start when NODE_OPTIONS holds a flag it does not allow there (most V8 flags): this runs it.
  const env = withNodeOptions(unitNodeOptions());
  const r = spawnSync(process.execPath, ["--import", "tsx", join(REPO, "src/cli/main.ts"), ...args, "--source", "procfs", "--no-store", "--duration", "0.5"], { cwd: REPO, encoding: "utf8", timeout: 30_000, env });
  assert.equal(r.status, 0, r.stderr);
  assert.match(readFileSync(join(dir, "watch.jsonl"), "utf8"), /"type":"start"/);
});

/** Runs `watch` with a deployment's arguments for half a second (port 0, files in the temporary directory). */
function runsWatch(args: string[], nodeOptions?: string): void {
  const fixed = args.map((a) => (a === "9465" ? "0" : a === "0.0.0.0" ? "127.0.0.1" : a === "/var/lib/halfopen/incidents.db" ? join(dir, "incidents.db") : a));
  const env = nodeOptions === undefined ? process.env : withNodeOptions(nodeOptions);
  const r = spawnSync(process.execPath, ["--import", "tsx", join(REPO, "src/cli/main.ts"), ...fixed, "--source", "procfs", "--duration", "0.5", "--json"], { cwd: REPO, encoding: "utf8", timeout: 30_000, env });
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /"type":"start"/);
}

const CAPABILITIES = (/^CapabilityBoundingSet=(.*)$/m.exec(UNIT)?.[1] ?? "").split(" ").map((c) => c.replace(/^CAP_/, ""));

interface Container {
  args: string[];
  ports: { containerPort: number; name: string }[];
  securityContext: { capabilities: { add: string[]; drop: string[] }; privileged: boolean };
  volumeMounts: { name: string; mountPath: string }[];
}
interface PodSpec {
  hostPID: boolean;
  hostNetwork: boolean;
  containers: Container[];
  volumes: { name: string; hostPath?: { path: string } }[];
}

test("the Kubernetes manifest validates against Kubernetes 1.31's strict schemas", () => {
  const docs = parseAllDocuments(readFileSync(join(REPO, "deploy/kubernetes/halfopen.yaml"), "utf8"));
  for (const d of docs) assert.deepEqual(d.errors, [], "YAML errors");
  const objects = docs.map((d) => d.toJS() as { kind: string });
  assert.deepEqual(objects.map((o) => o.kind), ["Namespace", "DaemonSet"]);
  const ajv = new Ajv({ strict: false, allErrors: true, validateFormats: false });
  for (const [object, schema] of [
    [objects[0], "namespace-v1.json"],
    [objects[1], "daemonset-apps-v1.json"],
  ] as const) {
    const validate = ajv.compile(JSON.parse(readFileSync(join(REPO, "test/fixtures/k8s", schema), "utf8")) as object);
    assert.ok(validate(object), `${object?.kind}: ${ajv.errorsText(validate.errors, { separator: "\n" })}`);
  }
  // The validator bites: a misspelt field fails.
  const bad = structuredClone(objects[1]) as unknown as { spec: { template: { spec: Record<string, unknown> } } };
  bad.spec.template.spec.hostPid = true;
  const validate = ajv.compile(JSON.parse(readFileSync(join(REPO, "test/fixtures/k8s/daemonset-apps-v1.json"), "utf8")) as object);
  assert.equal(validate(bad), false);
});

test("the DaemonSet asks for what watch needs, and its watch command line is one watch accepts", () => {
  const [, daemonSet] = parseAllDocuments(readFileSync(join(REPO, "deploy/kubernetes/halfopen.yaml"), "utf8")).map((d) => d.toJS() as { spec: { template: { spec: PodSpec } } });
  const pod = daemonSet!.spec.template.spec;
  assert.equal(pod.hostPID, true, "the node's pid namespace: the processes behind the connects");
  assert.equal(pod.hostNetwork, true, "the node's network namespace: metrics, --enforce, DNS");
  const [container] = pod.containers;
  assert.ok(container);
  const tracefs = pod.volumes.find((v) => v.hostPath?.path === "/sys/kernel/tracing");
  assert.ok(tracefs && container.volumeMounts.some((m) => m.name === tracefs.name && m.mountPath === "/sys/kernel/tracing"), "tracefs mounted");
  assert.equal(container.securityContext.privileged, false);
  assert.deepEqual(container.securityContext.capabilities.drop, ["ALL"]);
  assert.deepEqual([...container.securityContext.capabilities.add].sort(), [...CAPABILITIES].sort(), "the same capabilities as the systemd unit");
  const port = container.args[container.args.indexOf("--metrics-port") + 1];
  assert.equal(String(container.ports[0]?.containerPort), port, "the metrics port is the one watch serves");
  assert.equal(container.args[0], "watch");
  runsWatch(container.args);
});

test("the container image's command line is one watch accepts, and the build context leaves the host's trees out", () => {
  const file = readFileSync(join(REPO, "deploy/Containerfile"), "utf8");
  const json = (instruction: string) => JSON.parse(new RegExp(`^${instruction} (\\[.*\\])$`, "m").exec(file)?.[1] ?? "null") as string[];
  const entry = json("ENTRYPOINT");
  const cmd = json("CMD");
  assert.deepEqual(entry, ["node", "/opt/halfopen/dist/cli/main.js"]);
  assert.match(file, /^FROM debian:trixie-slim AS build$/m);
  assert.match(file, /HALFOPEN_NATIVE=require npm ci/);
  assert.match(file, /^EXPOSE 9465$/m);
  assert.equal(cmd[cmd.indexOf("--metrics-port") + 1], "9465");
  assert.doesNotMatch(file, /^ENV NODE_OPTIONS=/m, "the image runs watch with V8's defaults, as the unit");
  assert.ok(file.includes(`-e NODE_OPTIONS=${unitNodeOptions()}`), "and says how to cap its memory, with the unit's flag");
  runsWatch(cmd);
  const ignored = readFileSync(join(REPO, ".dockerignore"), "utf8").split("\n");
  for (const tree of ["node_modules", "dist", "build"]) assert.ok(ignored.includes(tree), `.dockerignore leaves out ${tree}`);
});
