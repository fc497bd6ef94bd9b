/**
 * Scan verdicts live (root, netns lab): `watch` flags a process that makes
 * unanswered connects to new destinations within 2 s of its first attempt,
 * marks a --trust program without alerting, leaves a process that retries
 * one refused service alone, runs --on-verdict for the alert only and
 * --on-incident at an incident's open and close, puts the
 * verdicts in the incident, the database, `incidents show`, the stop record
 * and the metrics. Under CI a missing prerequisite fails instead of skipping.
 */
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { freePort } from "../support/net.js";
import { LAB_ADDRESS, REFUSED_PORT, describeLab, droppedPorts } from "./lab.js";
import { WatchProcess, cli, runConnector } from "./watch-process.js";

type Verdict = { verdict: string; test?: string; firstContacts: number; trusted?: boolean };

describeLab("scan verdicts (tracefs, netns lab)", { file: "integration/verdicts", prefix: "hoverd" }, (lab) => {
  test("a scanner is flagged within 2 s, a trusted one is marked, a poller of one dead service is not; the hook gets only the alert", async () => {
    const dir = mkdtempSync(join(tmpdir(), "halfopen-verdicts-"));
    const hookOut = join(dir, "alerts.jsonl");
    const incidentOut = join(dir, "incidents.jsonl");
    const port = await freePort();
    const w = new WatchProcess([
      "--interval", "0", "--limit", "5", "--quiet", "0.5",
      "--comm", "ho-scanner,ho-trusted,ho-poller",
      "--trust", "ho-trusted",
      "--on-verdict", `tee -a ${hookOut}`,
      "--on-incident", `tee -a ${incidentOut}`,
      "--metrics-port", String(port),
    ]);
    await w.waitFor((l) => l.type === "start");
    const scanner = await runConnector(lab, { title: "ho-scanner", host: LAB_ADDRESS, ports: droppedPorts(8), holdMs: 3000 });
    const trusted = await runConnector(lab, { title: "ho-trusted", host: LAB_ADDRESS, ports: droppedPorts(8, 100), holdMs: 3000 });
    const poller = await runConnector(lab, { title: "ho-poller", host: LAB_ADDRESS, ports: Array<number>(10).fill(REFUSED_PORT), holdMs: 3000 });

    const v = await w.waitFor((l) => l.type === "verdict" && l.pid === scanner.pid);
    assert.deepEqual([v.verdict, v.test, v.firstContacts, v.trusted, v.name], ["scanner", "trw", 4, false, "ho-scanner"]);
    const evidence = v.evidence as Record<string, number>;
    assert.ok(evidence.secondsToVerdict! <= 2, `flagged ${evidence.secondsToVerdict} s after its first attempt`);
    assert.equal(evidence.firstContactFailures, 4);
    const t = await w.waitFor((l) => l.type === "verdict" && l.pid === trusted.pid);
    assert.deepEqual([t.verdict, t.trusted], ["scanner", true]);

    const metrics = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
    assert.match(metrics, /^halfopen_verdicts_total\{verdict="scanner"\} 1$/m);
    assert.match(metrics, /^halfopen_verdicts_total\{verdict="trusted_scanner"\} 1$/m);

    await Promise.all([scanner.done, trusted.done, poller.done]);
    assert.equal(await w.stop(), 0, w.stderr);
    assert.deepEqual(
      w.lines.filter((l) => l.type === "verdict" && l.pid === poller.pid),
      [],
      "ten refusals of one service are one first contact: no verdict",
    );
    const stop = w.lines.find((l) => l.type === "stop");
    assert.deepEqual(stop?.verdicts, { scanner: 1, benign: 0, trustedScanner: 1 });

    const alerts = readFileSync(hookOut, "utf8").trim().split("\n").map((l) => JSON.parse(l) as { type: string; pid: number });
    assert.deepEqual(alerts.map((a) => [a.type, a.pid]), [["verdict", scanner.pid]], "the hook ran once, for the untrusted scanner");

    const [incident] = w.incidents();
    assert.ok(incident, "the two scanners' 16 attempts crossed the limit of 5");
    const incidentHooks = readFileSync(incidentOut, "utf8").trim().split("\n").map((l) => JSON.parse(l) as { type: string; id: number; stored?: boolean });
    assert.deepEqual(
      incidentHooks.map((r) => [r.type, r.id, r.stored]),
      [
        ["incident-open", incident.id, true],
        ["incident", incident.id, true],
      ],
      "--on-incident ran when the incident opened and when it closed, with the stored record",
    );
    const byName = Object.fromEntries((incident.processes as { name: string; verdict?: Verdict }[]).map((p) => [p.name, p.verdict]));
    assert.deepEqual(byName["ho-scanner"], { verdict: "scanner", test: "trw", firstContacts: 4 });
    assert.deepEqual(byName["ho-trusted"], { verdict: "scanner", test: "trw", firstContacts: 4, trusted: true });
    const show = cli("incidents", "show", String(incident.id), "--db", w.db);
    assert.equal(show.status, 0, show.stderr);
    assert.match(show.stdout, /^ {11}verdict: scanner by TRW after 4 first contacts$/m);
    assert.match(show.stdout, /^ {11}verdict: scanner \(trusted\) by TRW after 4 first contacts$/m);
  });
});
