/** Running `watch --replay` for the tests, and the part of an incident a replay must reproduce. */
import { spawnSync } from "node:child_process";
import { CLI, REPO, type JsonLine } from "./watch-process.js";

/** The incident lines of `watch --replay FILE --as-fast-as-possible --json` with these options. */
export async function replayIncidents(file: string, args: string[], env: NodeJS.ProcessEnv = {}): Promise<JsonLine[]> {
  const r = spawnSync(process.execPath, ["--import", "tsx", CLI, "watch", "--json", "--replay", file, "--as-fast-as-possible", ...args], {
    cwd: REPO,
    encoding: "utf8",
    env: { ...process.env, ...env },
    timeout: 60_000,
  });
  if (r.status !== 0) throw new Error(`replay exited ${String(r.status)}: ${r.stderr}`);
  return r.stdout
    .trimEnd()
    .split("\n")
    .map((l) => JSON.parse(l) as JsonLine)
    .filter((l) => l.type === "incident");
}

/** An incident without what depends on when and where it was printed (emittedAt, database ids). */
export function comparable(i: JsonLine): JsonLine {
  const { emittedAt: _e, runIncident: _r, stored: _s, storeError: _x, ...rest } = i;
  return rest as JsonLine;
}
