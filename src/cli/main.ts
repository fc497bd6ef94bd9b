#!/usr/bin/env node
/**
 * The `halfopen` executable. For `halfopen ls` on Linux it first starts, on
 * other threads (native helper), the /proc fd walk that names socket owners
 * and the sock_diag dump of this namespace, so they run while Node loads the
 * rest of the CLI; then it runs the program (program.ts). If the options turn
 * out to want something else, the reader does not take them.
 */
import { prefetchSocketScan } from "../platform/linux/native.js";
import { hostPlatform } from "../platform/select.js";

/** `ls` reading /proc (the host's reader is procfs, or --source procfs). */
function lsReadsProc(argv: readonly string[]): boolean {
  if (argv[2] !== "ls") return false;
  try {
    if (hostPlatform().readerName() !== "procfs") return false;
  } catch {
    return false; // no reader on this OS: ls says so itself
  }
  const i = argv.findIndex((a) => a === "--source" || a.startsWith("--source="));
  if (i < 0) return true;
  const arg = argv[i] as string;
  return (arg.includes("=") ? arg.slice(arg.indexOf("=") + 1) : argv[i + 1]) === "procfs";
}

if (lsReadsProc(process.argv)) {
  // Loaded here, not above: other commands need none of it.
  const [{ TcpState }, { ALL_STATES_MASK, stateMask }] = await Promise.all([import("../core/tcp-state.js"), import("../platform/linux/inet-diag.js")]);
  const all = process.argv.some((a) => a === "--all-states" || /^-[a-z]*a[a-z]*$/.test(a));
  prefetchSocketScan(all ? ALL_STATES_MASK : stateMask([TcpState.SYN_SENT]));
}
try {
  const { main } = await import("./program.js");
  process.exitCode = await main(process.argv);
} catch (e) {
  // Loading the program itself can fail for want of a descriptor (a very low ulimit -n): coded too.
  const code = (e as NodeJS.ErrnoException | undefined)?.code;
  if (code === "EMFILE" || code === "ENFILE") {
    process.stderr.write(`halfopen: Ran out of file descriptors (${code}) while loading; raise the limit (ulimit -n 1024) and run again [HALFOPEN_RESOURCE_LIMIT]\n`);
  } else {
    const { asHalfOpenError, printError } = await import("./program.js");
    const coded = asHalfOpenError(e);
    if (coded instanceof Error && "code" in coded && String(coded.code).startsWith("HALFOPEN_")) printError(coded as never);
    else process.stderr.write(`halfopen: unexpected error: ${(e as Error)?.stack ?? String(e)}\n`);
  }
  process.exitCode = 1;
}
