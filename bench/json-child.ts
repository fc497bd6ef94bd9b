/** A bench workload process that prints one JSON object: wait for it and parse it (a non-zero exit throws with its stderr). */
import type { ChildProcess } from "node:child_process";
import { once } from "node:events";

export async function jsonFromChild<T>(child: ChildProcess, name: string): Promise<T> {
  let out = "";
  let err = "";
  child.stdout!.on("data", (d: Buffer) => (out += d.toString()));
  child.stderr!.on("data", (d: Buffer) => (err += d.toString()));
  const [code] = (await once(child, "exit")) as [number | null];
  if (code !== 0) throw new Error(`${name} exited ${code}: ${err}`);
  return JSON.parse(out) as T;
}
