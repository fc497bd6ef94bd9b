#!/usr/bin/env node
/**
 * halfopen command line. Maps HalfOpenError codes to exit codes
 * (0 ok, 1 failure, 2 bad usage, 3 needs privileges) and prints expected
 * failures as one line, without a stack trace.
 */
import { Command, CommanderError } from "commander";
import { HalfOpenError } from "../errors.js";
import { VERSION } from "../version.js";
import { registerActions } from "./act.js";
import { registerIncidents } from "./incidents.js";
import { registerLs } from "./ls.js";
import { registerWatch } from "./watch.js";

export async function main(argv: string[]): Promise<number> {
  const program = new Command("halfopen")
    .description("which process is flooding this machine with half-open TCP connection attempts")
    .version(VERSION)
    .exitOverride()
    .configureOutput({ writeErr: (s) => process.stderr.write(s) });
  registerWatch(program);
  registerLs(program);
  registerIncidents(program);
  registerActions(program);
  try {
    await program.parseAsync(argv);
    return 0;
  } catch (e) {
    if (e instanceof HalfOpenError) {
      process.stderr.write(`halfopen: ${e.message} [${e.code}]\n`);
      return e.exitCode;
    }
    if (e instanceof CommanderError) {
      if (e.code === "commander.helpDisplayed" || e.code === "commander.version" || e.code === "commander.help") return 0;
      return 2;
    }
    throw e;
  }
}

main(process.argv).then(
  (code) => {
    process.exitCode = code;
  },
  (e: unknown) => {
    process.stderr.write(`halfopen: unexpected error: ${(e as Error)?.stack ?? String(e)}\n`);
    process.exitCode = 1;
  },
);
