// @ts-check
// The page's DOM helpers: elements by id, elements with text (never HTML),
// text that a process or a scanned service controls made printable, and a
// once-per-frame scheduler.

/** @type {(id: string) => any} An element of index.html (each id is there once). */
export const $ = (id) => document.getElementById(id);

/**
 * Text a process or a scanned service controls, with control characters and bidirectional marks shown as escapes (as the CLI shows them).
 * @param {unknown} text
 */
export const printable = (text) =>
  // eslint-disable-next-line no-control-regex
  String(text).replace(/[\u0000-\u001f\u007f-\u009f\u200e\u200f\u202a-\u202e\u2066-\u2069]/g, (c) => {
    const code = c.charCodeAt(0);
    return code <= 0xff ? `\\x${code.toString(16).padStart(2, "0")}` : `\\u${code.toString(16).padStart(4, "0")}`;
  });

/**
 * An element with text content (never HTML) and a class.
 * @param {string} tag
 * @param {unknown} [text]
 * @param {string} [cls]
 * @returns {any}
 */
export const el = (tag, text, cls) => {
  const e = document.createElement(tag);
  if (text !== undefined) e.textContent = String(text);
  if (cls) e.className = cls;
  return e;
};

/**
 * `fn` at the next frame, once however often it is asked for before then.
 * @param {() => void} fn
 */
export function onFrame(fn) {
  let scheduled = false;
  return () => {
    if (scheduled) return;
    scheduled = true;
    requestAnimationFrame(() => {
      scheduled = false;
      fn();
    });
  };
}
