/**
 * NoteLog: an append-only, bounded log of notes (a source's warnings) that any
 * number of readers can follow, each with a cursor of its own. Reading never
 * removes anything, so a second reader does not steal the first one's notes.
 * Pure.
 *
 *   seq:   0   1   2   3   4   5        (numbers every note ever added)
 *                  [ 2   3   4   5 ]    kept: the newest `max`
 *   since(1) -> notes 2..5, next 6      (1 was dropped: a slow reader skips it)
 *   since(6) -> nothing, next 6
 *
 * @example
 * ```ts
 * import { NoteLog } from "halfopen";
 * const log = new NoteLog();
 * log.add("a warning");
 * const first = log.since(0);     // { notes: ["a warning"], next: 1 }
 * const again = log.since(0);     // the same: reading removes nothing
 * const later = log.since(first.next); // { notes: [], next: 1 }
 * if (again.notes.length !== 1 || later.notes.length !== 0) throw new Error("NoteLog example");
 * ```
 */

export interface NoteRead {
  /** Notes added at or after the cursor that are still kept, oldest first. */
  notes: string[];
  /** The cursor for the next read. */
  next: number;
}

export class NoteLog {
  readonly #max: number;
  #notes: string[] = [];
  /** Sequence number of `#notes[0]`. */
  #first = 0;

  /** Keeps the newest `max` notes (default 256); older ones are skipped by slow readers. */
  constructor(max = 256) {
    this.#max = Math.max(1, max);
  }

  /** Notes ever added. */
  get count(): number {
    return this.#first + this.#notes.length;
  }

  add(note: string): void {
    this.#notes.push(note);
    if (this.#notes.length > this.#max) {
      this.#notes.shift();
      this.#first++;
    }
  }

  /** The notes from cursor `since` on; pass the returned `next` to the following read. */
  since(since: number): NoteRead {
    const from = Math.max(0, since - this.#first);
    return { notes: this.#notes.slice(from), next: this.count };
  }
}
