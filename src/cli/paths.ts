/**
 * Refuses a run whose outputs would overwrite its own inputs or each other:
 * `scan --db X -oX X` (the XML over the database), `watch --db X --record X`,
 * `scan --resume J -oX J` (the journal), `scan -iL L -oX L` (the target
 * list). Files are compared by device and inode when they exist (so a
 * hard link or another spelling of the path is caught), else by their
 * absolute path; a database's -wal and -journal files count as the
 * database. Nothing is opened or written before this check passes.
 */
import { statSync } from "node:fs";
import { resolve } from "node:path";
import { ErrorCodes, HalfOpenError } from "../errors.js";

export interface RunPath {
  /** The option that names it ("--xml", "--db", "-iL"). */
  option: string;
  path: string;
  /** An output is written (and may be replaced); an input is only read; a database is both. */
  role: "input" | "output" | "database";
}

/** The identities a path stands for: its file (device:inode, or the absolute path when absent) and, for a database, its side files. */
function identities(p: RunPath): string[] {
  const of = (path: string) => {
    try {
      const st = statSync(path);
      return `${st.dev}:${st.ino}`;
    } catch {
      return resolve(path);
    }
  };
  const main = of(p.path);
  return p.role === "database" ? [main, of(`${p.path}-wal`), of(`${p.path}-journal`)] : [main];
}

/** Throws HALFOPEN_PATH_COLLISION when two of `paths` are the same file and at least one of them is written. */
export function refuseCollisions(paths: readonly RunPath[]): void {
  const seen = new Map<string, RunPath>();
  for (const p of paths) {
    for (const id of identities(p)) {
      const other = seen.get(id);
      if (other && other !== p && (other.role !== "input" || p.role !== "input"))
        throw new HalfOpenError(ErrorCodes.PATH_COLLISION, `Cannot use ${p.option} "${p.path}": it is the same file as ${other.option} "${other.path}", which this run ${other.role === "input" ? "reads" : "writes"}; writing one would destroy the other. Choose another path`);
      if (!other) seen.set(id, p);
    }
  }
}
