/**
 * A scan as nmap XML (`-oX FILE`): valid against nmap's own DTD
 * (/usr/share/nmap/nmap.dtd, Debian nmap-common) and read by nmap's ndiff,
 * so tools that take nmap output take ours. Pure: builds the text.
 *
 * The DTD only allows scanner="nmap"; `args` and `version` say it was
 * halfopen. Times are in microseconds, as nmap writes them. Only hosts that
 * are up are written (nmap's default); the run statistics count the rest.
 */
import type { HostResult } from "./model.js";
import { serviceName } from "./services.js";

export interface XmlScan {
  args: string;
  version: string;
  /** Epoch ms. */
  startedAt: number;
  endedAt: number;
  ports: readonly number[];
  hosts: readonly HostResult[];
  up: number;
  down: number;
  aborted?: boolean;
}

const ESC: Record<string, string> = { "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&apos;" };

/** An attribute value: escaped, and control characters (invalid in XML 1.0) dropped. */
export function xmlAttr(value: string): string {
  // eslint-disable-next-line no-control-regex
  return value.replace(/[\u0000-\u0008\u000b\u000c\u000e-\u001f\ufffe\uffff]/g, "").replace(/[&<>"']/g, (c) => ESC[c] as string);
}

/** Port list as nmap writes `services`: ranges collapsed ("22,80,8000-8100"). */
export function servicesAttr(ports: readonly number[]): string {
  const sorted = [...new Set(ports)].sort((a, b) => a - b);
  const parts: string[] = [];
  for (let i = 0; i < sorted.length; ) {
    let j = i;
    while (j + 1 < sorted.length && (sorted[j + 1] as number) === (sorted[j] as number) + 1) j++;
    parts.push(i === j ? `${sorted[i]}` : `${sorted[i]}-${sorted[j]}`);
    i = j + 1;
  }
  return parts.join(",");
}

const secs = (ms: number) => Math.floor(ms / 1000);
const usec = (ms: number) => String(Math.round(ms * 1000));

export function nmapXml(scan: XmlScan): string {
  const a = xmlAttr;
  const lines: string[] = [
    '<?xml version="1.0" encoding="UTF-8"?>',
    '<!DOCTYPE nmaprun SYSTEM "/usr/share/nmap/nmap.dtd">',
    `<nmaprun scanner="nmap" args="${a(scan.args)}" start="${secs(scan.startedAt)}" startstr="${a(new Date(scan.startedAt).toUTCString())}" version="${a(scan.version)}" xmloutputversion="1.05">`,
    `<scaninfo type="connect" protocol="tcp" numservices="${new Set(scan.ports).size}" services="${servicesAttr(scan.ports)}"/>`,
    '<verbose level="0"/>',
    '<debugging level="0"/>',
  ];
  for (const h of scan.hosts) {
    if (h.status !== "up") continue;
    lines.push(`<host starttime="${secs(h.startedAt)}" endtime="${secs(h.endedAt)}"><status state="up" reason="${a(h.reason)}" reason_ttl="0"/>`);
    lines.push(`<address addr="${a(h.address)}" addrtype="${h.family === 6 ? "ipv6" : "ipv4"}"/>`);
    lines.push(`<hostnames>${(h.names ?? []).map((n) => `<hostname name="${a(n)}" type="user"/>`).join("")}</hostnames>`);
    lines.push("<ports>");
    for (const p of h.ports) lines.push(`<port protocol="tcp" portid="${p.port}"><state state="${a(p.state)}" reason="${a(p.reason)}" reason_ttl="0"/><service name="${serviceName(p.port)}" method="table" conf="3"/></port>`);
    lines.push("</ports>");
    if (h.times) lines.push(`<times srtt="${usec(h.times.srttMs)}" rttvar="${usec(h.times.rttvarMs)}" to="${usec(h.times.timeoutMs)}"/>`);
    lines.push("</host>");
  }
  const elapsed = ((scan.endedAt - scan.startedAt) / 1000).toFixed(2);
  const total = scan.up + scan.down;
  lines.push(
    `<runstats><finished time="${secs(scan.endedAt)}" timestr="${a(new Date(scan.endedAt).toUTCString())}" elapsed="${elapsed}" summary="${a(`halfopen scan done at ${new Date(scan.endedAt).toUTCString()}; ${total} IP address${total === 1 ? "" : "es"} (${scan.up} host${scan.up === 1 ? "" : "s"} up) scanned in ${elapsed} seconds`)}" exit="${scan.aborted ? "error" : "success"}"${scan.aborted ? ' errormsg="interrupted"' : ""}/><hosts up="${scan.up}" down="${scan.down}" total="${total}"/></runstats>`,
    "</nmaprun>",
  );
  return `${lines.join("\n")}\n`;
}
