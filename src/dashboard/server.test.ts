/**
 * The dashboard's API through fastify's inject() (no port), and its event
 * stream over a real loopback port: every route answers with the token, and
 * refuses a forged Host (DNS rebinding), a missing token, a missing or
 * cross-site Origin and bad bodies with a 4xx and a clear message.
 */
import assert from "node:assert/strict";
import { after, describe, it } from "node:test";
import { get } from "node:http";
import type { AddressInfo } from "node:net";
import { createServer } from "node:net";
import { DashboardModel, type AnyDashboardRecord, type DashboardEvent } from "./model.js";
import { DashboardScans } from "./scans.js";
import { createDashboardServer, loopbackHosts, type DashboardActions, type KillRequest } from "./server.js";

const TOKEN = "t0ken-for-tests";
const PORT = 41234;

async function app(options: { actions?: DashboardActions; port?: () => number; scans?: boolean; readOnly?: boolean; maxClients?: number; maxBufferedBytes?: number } = {}) {
  const model = new DashboardModel({ limit: 10 });
  const listeners = new Set<(e: DashboardEvent) => void>();
  const emit = (record: AnyDashboardRecord) => {
    const e = model.record(record);
    for (const l of listeners) l(e);
  };
  const scans = options.scans ? new DashboardScans({ emit, db: () => undefined, limit: 6, defaultPorts: [22, 80] }) : undefined;
  const incidents = [{ id: 4, runIncident: 1, type: "incident", startedAtWall: 1000, peak: 12, limit: 10, trigger: { name: "<script>alert(1)</script>", pid: 9 } }];
  const server = await createDashboardServer({
    model,
    token: TOKEN,
    hosts: () => loopbackHosts(options.port?.() ?? PORT),
    subscribe: (l) => {
      listeners.add(l);
      return () => listeners.delete(l);
    },
    incidents: {
      list: (f) => incidents.filter((i) => (f.since === undefined || i.startedAtWall >= f.since) && (f.until === undefined || i.startedAtWall <= f.until)),
      get: (id) => incidents.find((i) => i.id === id),
      csv: (f) => `id\n${incidents.filter((i) => (f.since === undefined || i.startedAtWall >= f.since) && (f.until === undefined || i.startedAtWall <= f.until)).map((i) => i.id).join("\n")}\n`,
    },
    ...(options.actions ? { actions: options.actions } : {}),
    ...(scans ? { scans } : {}),
    heartbeatMs: 60_000,
    ...(options.readOnly ? { readOnly: true } : {}),
    ...(options.maxClients ? { maxClients: options.maxClients } : {}),
    ...(options.maxBufferedBytes ? { maxBufferedBytes: options.maxBufferedBytes } : {}),
  });
  return { server, model, emit, listeners, scans };
}

const host = `127.0.0.1:${PORT}`;
const authorization = `Bearer ${TOKEN}`;
const errorCode = (body: string) => (JSON.parse(body) as { error: { code: string; message: string } }).error;

describe("dashboard API", () => {
  it("the token is a bearer header only: never a cookie, never the query; the page's files need none, every API route does", async () => {
    const { server } = await app();
    const query = await server.inject({ url: `/?token=${TOKEN}`, headers: { host } });
    assert.equal(query.statusCode, 401);
    assert.equal(errorCode(query.body).code, "HALFOPEN_UI_BAD_TOKEN");
    assert.match(errorCode(query.body).message, /after # in the URL/);
    assert.equal(query.headers["set-cookie"], undefined, "no cookie, ever");
    for (const url of ["/", "/static/app.js", "/vendor/uplot/uPlot.iife.min.js"]) {
      const r = await server.inject({ url, headers: { host } });
      assert.equal(r.statusCode, 200, `${url}: the page's files hold no data`);
      assert.equal(r.headers["set-cookie"], undefined);
    }
    for (const url of ["/api/snapshot", "/api/events", "/api/incidents", "/api/incidents.csv", "/api/incidents/4", "/api/scans", "/api/scans/1", "/api/scans/stored/1", "/nowhere"]) {
      const r = await server.inject({ url, headers: { host } });
      assert.equal(r.statusCode, 401, url);
      assert.equal(errorCode(r.body).code, "HALFOPEN_UI_NO_TOKEN", url);
      assert.match(errorCode(r.body).message, /open the URL halfopen watch printed/);
      const forged = await server.inject({ url, headers: { host, authorization: "Bearer t0ken-for-tesTs" } });
      assert.equal(forged.statusCode, 401, `${url}: a token of the same length that differs`);
      const asCookie = await server.inject({ url, headers: { host, cookie: `halfopen_ui=${TOKEN}` } });
      assert.equal(asCookie.statusCode, 401, `${url}: a cookie is no credential (other local ports receive it)`);
    }
    const page = await server.inject({ url: "/", headers: { host } });
    assert.match(page.headers["content-type"] as string, /^text\/html/);
    assert.match(page.body, /<script type="module" src="\/static\/app\.js"><\/script>/);
    assert.doesNotMatch(page.body, /<script>|\sstyle=|\son[a-z]+=/i, "no inline script, style or handler");
    assert.match(page.headers["content-security-policy"] as string, /script-src 'self'; style-src 'self'.*frame-ancestors 'none'/);
    assert.equal(page.headers["x-content-type-options"], "nosniff");
    assert.equal(page.headers["x-frame-options"], "DENY");
    const bearer = await server.inject({ url: "/api/snapshot", headers: { host, authorization } });
    assert.equal(bearer.statusCode, 200);
  });

  it("the event stream takes a one-time ticket: spent on first use, refused when reused or unknown; HEAD ends", async () => {
    const { server } = await app();
    const json = { "content-type": "application/json", origin: `http://${host}` };
    const noToken = await server.inject({ method: "POST", url: "/api/tickets", headers: { host, ...json }, payload: "{}" });
    assert.equal(noToken.statusCode, 401, "a ticket needs the token");
    const issued = await server.inject({ method: "POST", url: "/api/tickets", headers: { host, authorization, ...json }, payload: "{}" });
    assert.equal(issued.statusCode, 200);
    const { ticket } = JSON.parse(issued.body) as { ticket: string };
    assert.match(ticket, /^[\w-]{20,}$/);
    assert.notEqual(ticket, TOKEN);
    // The stream is endless: inject() resolves once the first event (the snapshot) is written and the stream is ended by the test.
    assert.equal((await server.inject({ url: `/api/snapshot?ticket=${ticket}`, headers: { host } })).statusCode, 401, "a ticket opens only the stream");
    const head = await server.inject({ method: "HEAD", url: "/api/events", headers: { host, authorization } });
    assert.equal(head.statusCode, 200, "HEAD answers and ends");
    for (const t of ["", "nope", ticket.slice(0, -1)]) assert.equal((await server.inject({ url: `/api/events?ticket=${t}`, headers: { host } })).statusCode, 401, `ticket "${t}"`);
  });

  it("a forged Host (DNS rebinding), another port or no Host is refused on every path, before the token is looked at", async () => {
    const { server } = await app();
    for (const h of ["evil.example", `evil.example:${PORT}`, `127.0.0.1:${PORT + 1}`, "127.0.0.1", `localhost.evil.example:${PORT}`, ""]) {
      for (const url of ["/", `/?token=${TOKEN}`, "/api/events", "/api/snapshot", "/api/scans", "/nowhere"]) {
        const r = await server.inject({ url, headers: { host: h, authorization } });
        assert.equal(r.statusCode, 403, `${h} ${url}`);
        assert.equal(errorCode(r.body).code, "HALFOPEN_UI_BAD_HOST");
        assert.match(errorCode(r.body).message, /is not this dashboard's address.*DNS rebinding/);
      }
    }
    for (const h of [`localhost:${PORT}`, `[::1]:${PORT}`, `LOCALHOST:${PORT}`]) assert.equal((await server.inject({ url: "/api/snapshot", headers: { host: h, authorization } })).statusCode, 200, h);
  });

  it("every read route answers with the token: snapshot, incidents (time range), one incident, CSV, the page's files", async () => {
    const { server, emit } = await app();
    emit({ type: "warning", message: "hello" });
    const get = (url: string) => server.inject({ url, headers: { host, authorization } });
    const snap = JSON.parse((await get("/api/snapshot")).body) as { type: string; id: number; warnings: string[] };
    assert.deepEqual([snap.type, snap.id, snap.warnings], ["snapshot", 1, ["hello"]]);
    assert.equal((JSON.parse((await get("/api/incidents")).body) as { incidents: unknown[] }).incidents.length, 1);
    assert.equal((JSON.parse((await get("/api/incidents?since=2000")).body) as { incidents: unknown[] }).incidents.length, 0);
    const bad = await get("/api/incidents?since=yesterday");
    assert.equal(bad.statusCode, 400);
    assert.match(errorCode(bad.body).message, /Cannot use since="yesterday": expected ms since the epoch/);
    const one = await get("/api/incidents/4");
    assert.equal(JSON.parse(one.body).trigger.name, "<script>alert(1)</script>", "as data, in JSON");
    assert.match(one.headers["content-type"] as string, /^application\/json/);
    assert.equal(one.headers["cache-control"], "no-store");
    assert.equal((await get("/api/incidents/5")).statusCode, 404);
    assert.equal((await get("/api/incidents/x")).statusCode, 404);
    const csv = await get("/api/incidents.csv");
    assert.equal(csv.body, "id\n4\n");
    assert.match(csv.headers["content-disposition"] as string, /attachment; filename="incidents\.csv"/);
    assert.match((await get("/static/app.js")).headers["content-type"] as string, /javascript/);
    assert.equal((await get("/vendor/uplot/uPlot.iife.min.js")).statusCode, 200);
    assert.equal((await get("/vendor/uplot/uPlot.min.css")).statusCode, 200);
    assert.notEqual((await get("/vendor/uplot/uPlot.esm.js")).statusCode, 200, "only the two files the page uses");
    assert.notEqual((await get("/static/../package.json")).statusCode, 200);
    const missing = await get("/nowhere");
    assert.equal(missing.statusCode, 404);
    assert.equal(errorCode(missing.body).code, "HALFOPEN_UI_NOT_FOUND");
  });

  it("actions: POST with JSON and a same-origin Origin only; bad bodies are refused; never a CORS header", async () => {
    const calls: KillRequest[] = [];
    const { server } = await app({
      actions: {
        kill: async (r) => {
          calls.push(r);
          if (r.pid === 666) throw Object.assign(new Error("Will not end PID 666: it is not the same process (started 5, now 7)"), { code: "HALFOPEN_REFUSED" });
          return { result: "exited", signal: `SIG${r.signal}`, waitedMs: 3, name: r.name, pid: r.pid };
        },
      },
    });
    const post = (headers: Record<string, string>, payload: string, url = "/api/processes/4242/kill") => server.inject({ method: "POST", url, headers: { host, authorization, ...headers }, payload });
    const body = JSON.stringify({ name: "ho-scan", startTime: 12345, signal: "TERM" });
    const json = { "content-type": "application/json" };
    const origin = { origin: `http://${host}` };
    for (const [headers, code, status] of [
      [json, "HALFOPEN_UI_BAD_ORIGIN", 403],
      [{ ...json, origin: "http://evil.example" }, "HALFOPEN_UI_BAD_ORIGIN", 403],
      [{ ...json, origin: `http://127.0.0.1:${PORT + 1}` }, "HALFOPEN_UI_BAD_ORIGIN", 403],
      [{ ...json, origin: "null" }, "HALFOPEN_UI_BAD_ORIGIN", 403],
      [{ ...origin, "content-type": "text/plain" }, "HALFOPEN_UI_BAD_BODY", 415],
      [{ ...origin, "content-type": "application/x-www-form-urlencoded" }, "HALFOPEN_UI_BAD_BODY", 415],
    ] as const) {
      const r = await post(headers, body);
      assert.equal(r.statusCode, status, JSON.stringify(headers));
      assert.equal(errorCode(r.body).code, code);
    }
    for (const bad of ["{", "null", "[]", JSON.stringify({ name: "x" }), JSON.stringify({ name: "x", startTime: 1.5 }), JSON.stringify({ name: "x", startTime: 1, signal: "HUP" })]) {
      const r = await post({ ...json, ...origin }, bad);
      assert.equal(r.statusCode, 400, bad);
      assert.ok(errorCode(r.body).message.length > 10, bad);
    }
    assert.equal((await post({ ...json, ...origin }, body, "/api/processes/0/kill")).statusCode, 400);
    assert.deepEqual(calls, [], "nothing refused reached the action");
    const ok = await post({ ...json, ...origin }, body);
    assert.equal(ok.statusCode, 200, ok.body);
    assert.deepEqual(JSON.parse(ok.body), { result: "exited", signal: "SIGTERM", waitedMs: 3, name: "ho-scan", pid: 4242 });
    assert.deepEqual(calls, [{ pid: 4242, name: "ho-scan", startTime: 12345, signal: "TERM" }]);
    const refused = await post({ ...json, ...origin }, body, "/api/processes/666/kill");
    assert.equal(refused.statusCode, 409);
    assert.equal(errorCode(refused.body).code, "HALFOPEN_REFUSED");
    const preflight = await server.inject({ method: "OPTIONS", url: "/api/processes/4242/kill", headers: { host, authorization, origin: "http://evil.example", "access-control-request-method": "POST" } });
    assert.ok(preflight.statusCode >= 400 && preflight.statusCode < 500, String(preflight.statusCode));
    for (const r of [ok, refused, preflight]) assert.ok(!Object.keys(r.headers).some((h) => h.startsWith("access-control-")), "no CORS header");
    const replay = (await app()).server;
    const none = await replay.inject({ method: "POST", url: "/api/processes/4242/kill", headers: { host, authorization, ...json, ...origin }, payload: body });
    assert.equal(none.statusCode, 409);
    assert.match(errorCode(none.body).message, /replay: there is no live process to end/);
  });
});

describe("a read-only dashboard", () => {
  it("ends no process and starts no scan, whatever it was given; the snapshot says so", async () => {
    const calls: KillRequest[] = [];
    const { server, scans } = await app({ readOnly: true, scans: true, actions: { kill: async (r) => (calls.push(r), { result: "exited", signal: "SIGTERM", waitedMs: 0, name: r.name, pid: r.pid }) } });
    const headers = { host, authorization, "content-type": "application/json", origin: `http://${host}` };
    for (const [url, payload] of [
      ["/api/processes/4242/kill", { name: "ho-scan", startTime: 1, signal: "TERM" }],
      ["/api/scans", { targets: "127.0.0.1" }],
      ["/api/scans/stop", {}],
    ] as const) {
      const r = await server.inject({ method: "POST", url, headers, payload: JSON.stringify(payload) });
      assert.equal(r.statusCode, 403, url);
      assert.equal(errorCode(r.body).code, "HALFOPEN_UI_READ_ONLY", url);
    }
    assert.deepEqual(calls, []);
    assert.equal(scans?.running, false);
    const snap = JSON.parse((await server.inject({ url: "/api/snapshot", headers: { host, authorization } })).body) as { readOnly: boolean; actions: { kill: boolean; scans: boolean } };
    assert.deepEqual([snap.readOnly, snap.actions], [true, { kill: false, scans: false }]);
    assert.equal((JSON.parse((await server.inject({ url: "/api/scans", headers: { host, authorization } })).body) as { available: boolean }).available, false);
  });

  it("a pid written other than in plain decimal is refused before any action", async () => {
    const calls: KillRequest[] = [];
    const { server } = await app({ actions: { kill: async (r) => (calls.push(r), { result: "exited", signal: "SIGTERM", waitedMs: 0, name: r.name, pid: r.pid }) } });
    const headers = { host, authorization, "content-type": "application/json", origin: `http://${host}` };
    for (const pid of ["0x503c", "1e3", "+12", "012", " 12", "12.0", "99999999999"]) {
      const r = await server.inject({ method: "POST", url: `/api/processes/${encodeURIComponent(pid)}/kill`, headers, payload: JSON.stringify({ name: "x", startTime: 1 }) });
      assert.equal(r.statusCode, 400, pid);
    }
    assert.deepEqual(calls, []);
  });
});

describe("dashboard scan routes", () => {
  it("start (checked body, 202 and its id), progress to the end over the model, one at a time, stop; refusals with codes", async () => {
    const { server, scans } = await app({ scans: true });
    const listener = createServer((c) => c.destroy());
    await new Promise<void>((r) => listener.listen(0, "127.0.0.1", () => r()));
    const port = (listener.address() as AddressInfo).port;
    const json = { "content-type": "application/json", origin: `http://${host}` };
    const post = (url: string, payload: unknown, headers: Record<string, string> = json) => server.inject({ method: "POST", url, headers: { host, authorization, ...headers }, payload: typeof payload === "string" ? payload : JSON.stringify(payload) });
    const get = (url: string) => server.inject({ url, headers: { host, authorization } });
    try {
      const listed = JSON.parse((await get("/api/scans")).body) as { available: boolean; running: boolean; storing: boolean; defaults: { maxHalfOpen: number; ports: number[] }; scans: unknown[]; stored: unknown[] };
      assert.deepEqual(listed, { available: true, running: false, storing: false, defaults: { maxHalfOpen: 6, ports: [22, 80] }, scans: [], stored: [] }, "the default budget is the watch's limit when below 10");
      // The same guards as every action.
      for (const [headers, code] of [
        [{ "content-type": "application/json" }, "HALFOPEN_UI_BAD_ORIGIN"],
        [{ "content-type": "application/json", origin: "http://evil.example" }, "HALFOPEN_UI_BAD_ORIGIN"],
        [{ origin: `http://${host}`, "content-type": "text/plain" }, "HALFOPEN_UI_BAD_BODY"],
      ] as const) {
        for (const url of ["/api/scans", "/api/scans/stop"]) {
          const r = await post(url, { targets: "127.0.0.1" }, headers);
          assert.ok(r.statusCode === 403 || r.statusCode === 415, `${url} ${JSON.stringify(headers)}`);
          assert.equal(errorCode(r.body).code, code);
        }
      }
      for (const [body, code, status, message] of [
        ["{", "HALFOPEN_UI_BAD_REQUEST", 400, /JSON/],
        [{}, "HALFOPEN_BAD_USAGE", 400, /no targets/],
        [{ targets: "127.0.0.1", ports: "0-5" }, "HALFOPEN_BAD_TARGET", 400, /port/i],
        [{ targets: "300.1.1.1" }, "HALFOPEN_BAD_TARGET", 400, /300\.1\.1\.1/],
        [{ targets: "127.0.0.1", maxHalfOpen: -1 }, "HALFOPEN_BAD_USAGE", 400, /maxHalfOpen -1/],
        [{ targets: "127.0.0.0/8" }, "HALFOPEN_NEEDS_CONFIRMATION", 409, /16,777,216 addresses/],
      ] as const) {
        const r = await post("/api/scans", body);
        assert.equal(r.statusCode, status, `${JSON.stringify(body)}: ${r.body}`);
        assert.equal(errorCode(r.body).code, code, JSON.stringify(body));
        assert.match(errorCode(r.body).message, message);
      }
      assert.equal(scans?.running, false, "nothing refused started a scan");

      const started = await post("/api/scans", { targets: "127.0.0.1", ports: String(port), discovery: false });
      assert.equal(started.statusCode, 202, started.body);
      const { id } = JSON.parse(started.body) as { id: number };
      let view: { state: string; hosts: { ports: { port: number; state: string }[] }[]; spec: { maxHalfOpen: number } } | undefined;
      for (let i = 0; i < 200 && view?.state !== "done"; i++) {
        await new Promise((r) => setTimeout(r, 25));
        const r = await get(`/api/scans/${id}`);
        if (r.statusCode === 200) view = JSON.parse(r.body) as typeof view;
      }
      assert.equal(view?.state, "done");
      assert.equal(view?.spec.maxHalfOpen, 6);
      assert.deepEqual(
        view?.hosts[0]?.ports.map((p) => [p.port, p.state]),
        [[port, "open"]],
      );
      const snap = JSON.parse((await get("/api/snapshot")).body) as { scans: { id: number; state: string }[]; scan: { id: number } };
      assert.deepEqual([snap.scans.map((x) => [x.id, x.state]), snap.scan.id], [[[id, "done"]], id]);
      assert.equal((await get(`/api/scans/${id + 1}`)).statusCode, 404);
      assert.equal(errorCode((await get("/api/scans/x")).body).code, "HALFOPEN_NOT_FOUND");
      assert.equal((await get("/api/scans/stored/1")).statusCode, 404, "no database here");

      const long = await post("/api/scans", { targets: "127.2.0.0/16", ports: "9", discovery: false, maxHalfOpen: 2 });
      assert.equal(long.statusCode, 202);
      const busy = await post("/api/scans", { targets: "127.0.0.1" });
      assert.equal(busy.statusCode, 409);
      assert.equal(errorCode(busy.body).code, "HALFOPEN_REFUSED");
      const stop = await post("/api/scans/stop", {});
      assert.deepEqual(JSON.parse(stop.body), { stopped: true, series: 2 });
      await scans?.close();
      assert.deepEqual(JSON.parse((await post("/api/scans/stop", {})).body), { stopped: false });
    } finally {
      await scans?.close();
      listener.close();
    }
    const none = (await app()).server;
    const refused = await none.inject({ method: "POST", url: "/api/scans", headers: { host, authorization, "content-type": "application/json", origin: `http://${host}` }, payload: "{}" });
    assert.equal(refused.statusCode, 409);
    assert.equal(errorCode(refused.body).code, "HALFOPEN_UNSUPPORTED");
    assert.equal((JSON.parse((await none.inject({ url: "/api/scans", headers: { host, authorization } })).body) as { available: boolean }).available, false);
  });
});

describe("dashboard event stream (loopback port)", () => {
  const servers: Awaited<ReturnType<typeof app>>["server"][] = [];
  after(async () => {
    for (const s of servers) {
      s.server.closeAllConnections();
      await s.close();
    }
  });

  /** Reads server-sent events from a fetch response until `count` have arrived. */
  async function readEvents(res: Response, count: number): Promise<{ id: number; event: string; data: Record<string, unknown> }[]> {
    const out: { id: number; event: string; data: Record<string, unknown> }[] = [];
    const reader = (res.body as ReadableStream<Uint8Array>).getReader();
    const decoder = new TextDecoder();
    let buf = "";
    while (out.length < count) {
      const { value, done } = await reader.read();
      if (done) break;
      buf += decoder.decode(value, { stream: true });
      let end: number;
      while ((end = buf.indexOf("\n\n")) >= 0) {
        const block = buf.slice(0, end);
        buf = buf.slice(end + 2);
        if (block.startsWith(":")) continue;
        const field = (name: string) => block.split("\n").find((l) => l.startsWith(`${name}: `))?.slice(name.length + 2) ?? "";
        out.push({ id: Number(field("id")), event: field("event"), data: JSON.parse(field("data")) as Record<string, unknown> });
      }
    }
    await reader.cancel();
    return out;
  }

  it("a snapshot first, then changes as they happen; Last-Event-ID resumes with exactly what was missed", async () => {
    let port = 0;
    const { server, emit, listeners } = await app({ port: () => port });
    servers.push(server);
    await server.listen({ host: "127.0.0.1", port: 0 });
    port = (server.server.address() as AddressInfo).port;
    emit({ type: "warning", message: "before" });
    const url = `http://127.0.0.1:${port}/api/events`;
    const controller = new AbortController();
    const res = await fetch(url, { headers: { authorization }, signal: controller.signal });
    assert.equal(res.status, 200);
    assert.match(res.headers.get("content-type") ?? "", /^text\/event-stream/);
    assert.match(res.headers.get("content-security-policy") ?? "", /default-src 'none'/);
    const reading = readEvents(res, 3);
    // Wait until the stream is subscribed, then publish two events.
    for (let i = 0; listeners.size === 0 && i < 200; i++) await new Promise((r) => setTimeout(r, 10));
    assert.equal(listeners.size, 1);
    emit({ type: "warning", message: "live 1" });
    emit({ type: "scan-stop", series: 1, atWall: 5, at: 5 });
    const events = await reading;
    controller.abort();
    assert.deepEqual(
      events.map((e) => [e.id, e.event]),
      [
        [1, "snapshot"],
        [2, "warning"],
        [3, "scan-stop"],
      ],
    );
    assert.deepEqual((events[0]?.data as { warnings: string[] }).warnings, ["before"]);
    emit({ type: "warning", message: "while away" });
    const resumed = await fetch(url, { headers: { authorization, "last-event-id": "2" } });
    const missed = await readEvents(resumed, 2);
    assert.deepEqual(
      missed.map((e) => [e.id, e.event]),
      [
        [3, "scan-stop"],
        [4, "warning"],
      ],
      "exactly what came after id 2, no snapshot",
    );
    const stale = await fetch(url, { headers: { authorization, "last-event-id": "99" } });
    // The page's way: a one-time ticket in the URL (EventSource cannot send headers).
    const ticketOf = async () => ((await (await fetch(`http://127.0.0.1:${port}/api/tickets`, { method: "POST", headers: { authorization, "content-type": "application/json", origin: `http://127.0.0.1:${port}` }, body: "{}" })).json()) as { ticket: string }).ticket;
    const ticket = await ticketOf();
    const byTicket = await fetch(`${url}?ticket=${ticket}&lastEventId=3`);
    assert.equal(byTicket.status, 200);
    assert.deepEqual((await readEvents(byTicket, 1)).map((e) => [e.id, e.event]), [[4, "warning"]], "lastEventId in the query resumes too");
    assert.equal((await fetch(`${url}?ticket=${ticket}`)).status, 401, "a ticket is spent once");
    const [snapshot] = await readEvents(stale, 1);
    assert.deepEqual([snapshot?.id, snapshot?.event], [4, "snapshot"], "an id this run never sent gets a snapshot");
    // A rebinding page's request reaches the port with its own name in Host (fetch cannot forge Host; http.get can).
    const status = await new Promise<number>((resolve, reject) => {
      get({ host: "127.0.0.1", port, path: "/api/events", headers: { authorization, host: `rebound.example:${port}` } }, (r) => {
        resolve(r.statusCode ?? 0);
        r.destroy();
      }).on("error", reject);
    });
    assert.equal(status, 403, "the stream checks Host too");
  });

  it("a client that never reads is dropped once its backlog passes the cap; streams past maxClients are refused", async () => {
    let port = 0;
    const { server, emit, listeners } = await app({ port: () => port, maxBufferedBytes: 256 * 1024, maxClients: 2 });
    servers.push(server);
    await server.listen({ host: "127.0.0.1", port: 0 });
    port = (server.server.address() as AddressInfo).port;
    const { connect } = await import("node:net");
    const stalled = connect(port, "127.0.0.1");
    await new Promise<void>((r) => stalled.once("connect", () => r()));
    stalled.pause(); // never reads: what the server writes piles up in its socket
    const closed = new Promise<void>((r) => stalled.once("close", () => r()));
    stalled.on("error", () => {});
    stalled.write(`GET /api/events HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nAuthorization: ${authorization}\r\n\r\n`);
    for (let i = 0; listeners.size === 0 && i < 200; i++) await new Promise((r) => setTimeout(r, 10));
    assert.equal(listeners.size, 1);
    const second = await fetch(`http://127.0.0.1:${port}/api/events`, { headers: { authorization } });
    assert.equal(second.status, 200);
    const third = await fetch(`http://127.0.0.1:${port}/api/events`, { headers: { authorization } });
    assert.equal(third.status, 503, "maxClients streams at once");
    assert.equal(((await third.json()) as { error: { code: string } }).error.code, "HALFOPEN_UI_BUSY");
    await second.body?.cancel();
    const big = "x".repeat(16 * 1024);
    // 64 MiB of events: far beyond what the kernel's socket buffers hold, so the server's own backlog passes the cap.
    for (let i = 0; i < 4096 && !stalled.destroyed; i++) {
      emit({ type: "warning", message: big });
      if (i % 64 === 0) await new Promise((r) => setImmediate(r));
      if (Number(listeners.size) === 0) break;
    }
    stalled.resume();
    await closed;
    for (let i = 0; listeners.size > 0 && i < 200; i++) await new Promise((r) => setTimeout(r, 10));
    assert.equal(listeners.size, 0, "the stalled stream was dropped and unsubscribed");
  });
});
