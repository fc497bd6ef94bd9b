// Writes the man pages into dist/man/ (npm installs them with the package:
// package.json "directories.man"), from the same commander definitions as
// --help (src/cli/reference/pages.ts). Run by `npm run build`, after tsc.
import { mkdirSync, rmSync, writeFileSync } from "node:fs";
import { fileURLToPath } from "node:url";

const REPO = fileURLToPath(new URL("../", import.meta.url));
const { fullProgram } = await import(`${REPO}dist/cli/program.js`);
const { manPages } = await import(`${REPO}dist/cli/reference/pages.js`);
const { VERSION } = await import(`${REPO}dist/version.js`);
const epoch = Number(process.env.SOURCE_DATE_EPOCH);
const date = new Date(Number.isFinite(epoch) && epoch > 0 ? epoch * 1000 : Date.now()).toISOString().slice(0, 10);
const dir = `${REPO}dist/man`;
rmSync(dir, { recursive: true, force: true });
mkdirSync(dir, { recursive: true });
const pages = manPages(await fullProgram(), VERSION, date);
for (const [file, text] of pages) writeFileSync(`${dir}/${file}`, text);
process.stderr.write(`man: ${pages.size} pages in dist/man\n`);
