/**
 * The merge of the per-CPU ring buffers into one stream in time order. Each
 * CPU's buffer is in order, but an attempt's end (often on another CPU, in
 * softirq) can be read before its start: records are staged and released
 * only up to a watermark (a time taken before the read), sorted by
 * timestamp, so nothing released can be overtaken by a record read later.
 * A record the caller asks to `hold` (a connect of a process not named yet)
 * stops the release there for at most `holdNs` past its time. Pure.
 *
 *   read: cpu0 [a3 a7]  cpu1 [b2 b9]  →  staged [b2 a3 a7 b9]
 *   release(watermark 8) → b2 a3 a7     staged [b9]  (b9 waits for the next read)
 */
export class RecordMerge<R extends { timestampNs: number }> {
  #staged: R[] = [];

  /** Records read and not yet released. */
  get pending(): number {
    return this.#staged.length;
  }

  add(record: R): void {
    this.#staged.push(record);
  }

  /**
   * The staged records at or before `watermark`, oldest first (Infinity:
   * all of them, nothing held). A record `hold` returns true for stops the
   * release while the watermark is less than `holdNs` past it.
   */
  release(watermark: number, hold?: (record: R) => boolean, holdNs = 0): R[] {
    if (this.#staged.length === 0) return [];
    this.#staged.sort((a, b) => a.timestampNs - b.timestampNs);
    let cut = 0;
    while (cut < this.#staged.length) {
      const rec = this.#staged[cut] as R;
      if (rec.timestampNs > watermark) break;
      if (watermark !== Number.POSITIVE_INFINITY && hold?.(rec) && watermark - rec.timestampNs < holdNs) break;
      cut++;
    }
    return cut === this.#staged.length ? this.#staged.splice(0) : this.#staged.splice(0, cut);
  }
}
