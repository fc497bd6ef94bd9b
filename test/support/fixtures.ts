/** Paths and loaders of captured fixtures (see each folder's README.md). */
import { readFileSync } from "node:fs";
import { parseEventFormat, type EventFormat } from "../../src/platform/linux/tracefs-format.js";
import type { TracefsFormats } from "../../src/platform/linux/tracefs-decode.js";

export const FIXTURES = new URL("../fixtures/", import.meta.url).pathname;

export function fixture(path: string): Buffer {
  return readFileSync(`${FIXTURES}${path}`);
}

export function fixtureText(path: string): string {
  return readFileSync(`${FIXTURES}${path}`, "utf8");
}

export function tracefsFormat(name: string): EventFormat {
  return parseEventFormat(fixtureText(`linux/tracefs/${name}.format`));
}

export function allTracefsFormats(): TracefsFormats {
  return {
    setState: tracefsFormat("sock__inet_sock_set_state"),
    receiveReset: tracefsFormat("tcp__tcp_receive_reset"),
    retransmit: tracefsFormat("tcp__tcp_retransmit_skb"),
    processExit: tracefsFormat("sched__sched_process_exit"),
    processExec: tracefsFormat("sched__sched_process_exec"),
  };
}
