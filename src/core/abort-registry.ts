/**
 * One "abort" listener per AbortSignal, however many attempts share it. A
 * crawl that passes one signal to thousands of connects would otherwise add
 * a listener per attempt, and Node warns past ten
 * (MaxListenersExceededWarning); here the signal gets one listener, and
 * each attempt joins and leaves a set. Listeners run in the order they
 * joined; one that leaves before the abort is never called.
 *
 * @example
 * ```ts
 * import { whenAborted } from "./abort-registry.js";
 * const c = new AbortController();
 * const leave = whenAborted(c.signal, () => console.log("stopped"));
 * leave(); // no longer called
 * ```
 */
const registry = new WeakMap<AbortSignal, Set<() => void>>();

/** Calls `fn` once when `signal` aborts; returns the function that takes it back. */
export function whenAborted(signal: AbortSignal, fn: () => void): () => void {
  let set = registry.get(signal);
  if (!set) {
    const members = new Set<() => void>();
    set = members;
    registry.set(signal, members);
    signal.addEventListener(
      "abort",
      () => {
        registry.delete(signal);
        for (const f of [...members]) f();
        members.clear();
      },
      { once: true },
    );
  }
  const members = set;
  members.add(fn);
  return () => {
    members.delete(fn);
  };
}
