/**
 * Reads a text file line by line with bounds: target lists (`scan -iL`),
 * resume journals, recordings (`watch --replay`, `simulate replay`). Only a
 * regular file is read (a FIFO, a device such as /dev/zero or a directory
 * is refused before any byte is read); a line longer than `maxLineBytes`,
 * or more than `maxLines` lines, stops the read with HALFOPEN_INPUT_TOO_LARGE
 * naming the file and the line. Memory is one chunk plus one line, whatever
 * the file's size.
 *
 * Each line says whether a newline ended it: the last line of a file cut
 * short by a crash has none, and its reader may drop it (a torn write).
 *
 * Mechanism: fs.open + read of 64 KiB chunks, split at "\n" (a "\r" before
 * it is removed); UTF-8.
 */
import { constants } from "node:fs";
import { open } from "node:fs/promises";
import { StringDecoder } from "node:string_decoder";
import { ErrorCodes, HalfOpenError, type ErrorCode } from "../errors.js";

export interface LineFileOptions {
  /** What the file is, for messages ("target list", "journal", "recording"). */
  what: string;
  /** Longest line accepted, bytes. Default 1 MiB. */
  maxLineBytes?: number;
  /** Most lines accepted. Default unlimited. */
  maxLines?: number;
  /** Code for a file that cannot be opened or is not a regular file. Default BAD_USAGE. */
  openCode?: ErrorCode;
}

export interface FileLine {
  /** 1-based. */
  number: number;
  text: string;
  /** False for a last line that no newline ended. */
  terminated: boolean;
  /** Bytes from the start of the file to the end of this line (its newline included). */
  endOffset: number;
}

const CHUNK = 64 * 1024;

/** Checks that `path` is a regular file and opens it; the error names the file and says why not. */
export async function openRegularFile(path: string, what: string, code: ErrorCode = ErrorCodes.BAD_USAGE) {
  let handle;
  try {
    // O_NONBLOCK: opening a FIFO for reading would wait for a writer; a regular file reads the same either way.
    handle = await open(path, constants.O_RDONLY | constants.O_NONBLOCK);
  } catch (e) {
    const c = (e as NodeJS.ErrnoException).code;
    throw new HalfOpenError(code, `Cannot read the ${what} "${path}": ${c === "ENOENT" ? "no such file" : (c ?? (e as Error).message)}`);
  }
  const stat = await handle.stat();
  if (!stat.isFile()) {
    await handle.close();
    const kind = stat.isFIFO() ? "a FIFO" : stat.isDirectory() ? "a directory" : stat.isCharacterDevice() || stat.isBlockDevice() ? "a device" : stat.isSocket() ? "a socket" : "not a regular file";
    throw new HalfOpenError(code, `Cannot read the ${what} "${path}": it is ${kind}, not a regular file`);
  }
  return { handle, size: stat.size, dev: stat.dev, ino: stat.ino };
}

/** The file's lines, read in chunks; stops with INPUT_TOO_LARGE at the first line or count past its bound. */
export async function* readLines(path: string, options: LineFileOptions): AsyncGenerator<FileLine> {
  const maxLine = options.maxLineBytes ?? 1024 * 1024;
  const maxLines = options.maxLines ?? Number.POSITIVE_INFINITY;
  const { handle } = await openRegularFile(path, options.what, options.openCode);
  const tooLarge = (why: string) => new HalfOpenError(ErrorCodes.INPUT_TOO_LARGE, `Cannot read the ${options.what} "${path}": ${why}`);
  const decoder = new StringDecoder("utf8");
  const buf = Buffer.allocUnsafe(CHUNK);
  let pending = "";
  let pendingBytes = 0;
  let number = 0;
  let offset = 0;
  const line = (text: string, terminated: boolean, bytes: number): FileLine => {
    offset += bytes;
    if (++number > maxLines) throw tooLarge(`more than ${maxLines.toLocaleString("en")} lines`);
    return { number, text: text.endsWith("\r") ? text.slice(0, -1) : text, terminated, endOffset: offset };
  };
  try {
    for (;;) {
      const { bytesRead } = await handle.read(buf, 0, CHUNK, null);
      if (bytesRead === 0) break;
      let start = 0;
      for (;;) {
        const nl = buf.indexOf(10, start);
        if (nl < 0 || nl >= bytesRead) break;
        const bytes = pendingBytes + nl - start;
        if (bytes > maxLine) throw tooLarge(`line ${number + 1} is longer than ${maxLine.toLocaleString("en")} bytes`);
        const text = pending + decoder.write(buf.subarray(start, nl)) + decoder.end();
        pending = "";
        pendingBytes = 0;
        yield line(text, true, bytes + 1);
        start = nl + 1;
      }
      if (start < bytesRead) {
        pendingBytes += bytesRead - start;
        if (pendingBytes > maxLine) throw tooLarge(`line ${number + 1} is longer than ${maxLine.toLocaleString("en")} bytes`);
        pending += decoder.write(buf.subarray(start, bytesRead));
      }
    }
    if (pendingBytes > 0) yield line(pending + decoder.end(), false, pendingBytes);
  } finally {
    await handle.close();
  }
}
