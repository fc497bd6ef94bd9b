/**
 * What every parser of OS output returns, and the bookkeeping they share:
 * lines skipped (with the first for the warning), state words not
 * recognized, and rows keyed by their 4-tuple. Pure.
 */
import type { Endpoint, IpFamily } from "../core/endpoint.js";
import type { SocketRow } from "../core/socket-table.js";

/** A parse result: what was read, and what was not. */
export interface Parsed<T> {
  value: T;
  /** Lines or records skipped, with the first one for the warning. */
  skipped: number;
  firstSkipped?: string;
  /** State words that were not recognized (localized netstat in a language not in the table). */
  unknownStates: string[];
}

/** Collects skipped lines and unknown state words while a parser runs. */
export class ParseLog {
  skipped = 0;
  firstSkipped: string | undefined;
  readonly #unknown = new Set<string>();

  skip(text: string): void {
    this.skipped++;
    this.firstSkipped ??= text.slice(0, 120);
  }

  /** The state number, or 0 with the word remembered as unknown. */
  state(word: string, known: number | undefined): number {
    if (known !== undefined) return known;
    this.#unknown.add(word);
    return 0;
  }

  result<T>(value: T): Parsed<T> {
    const r: Parsed<T> = { value, skipped: this.skipped, unknownStates: [...this.#unknown] };
    if (this.firstSkipped !== undefined) r.firstSkipped = this.firstSkipped;
    return r;
  }
}

/** A row identified by its 4-tuple (the OS gives no socket id). */
export function tupleRow(family: IpFamily, local: Endpoint, remote: Endpoint, state: number): SocketRow {
  return {
    key: `${local.address}:${local.port}>${remote.address}:${remote.port}`,
    family,
    local: { address: local.address, port: local.port },
    remote: { address: remote.address, port: remote.port },
    state,
  };
}

/** Adds a warning for skipped lines and unknown (localized) state words. */
export function noteSkipped(parsed: Parsed<unknown>, what: string, warnings: string[]): void {
  if (parsed.skipped > 0) warnings.push(`skipped ${parsed.skipped} unreadable line(s) of ${what}: "${parsed.firstSkipped ?? ""}"`);
  if (parsed.unknownStates.length > 0) {
    warnings.push(
      `${what} printed state words halfopen does not know (${parsed.unknownStates.join(", ")}); on a non-English Windows some SYN_SENT rows may be missed`,
    );
  }
}
