/**
 * Service names of TCP ports, as nmap's nmap-services table (which nmap's
 * output, XML and ndiff show) names them: the 1,000 most often open
 * (top-ports.ts) and a few more. Others are "unknown", as nmap says.
 */
import { TOP_TCP_PORTS } from "./top-ports.js";

/** nmap's first N ports by frequency (`--top-ports N`, 1 to 1000). */
export function topPorts(n: number): number[] {
  return TOP_TCP_PORTS.slice(0, n).map(([port]) => port);
}

const TOP = new Map<number, string>(TOP_TCP_PORTS);

const NAMES: Record<number, string> = {
  21: "ftp",
  22: "ssh",
  23: "telnet",
  25: "smtp",
  53: "domain",
  80: "http",
  110: "pop3",
  111: "rpcbind",
  135: "msrpc",
  139: "netbios-ssn",
  143: "imap",
  443: "https",
  445: "microsoft-ds",
  993: "imaps",
  995: "pop3s",
  1723: "pptp",
  3306: "mysql",
  3389: "ms-wbt-server",
  5432: "postgresql",
  5900: "vnc",
  6379: "redis",
  8080: "http-proxy",
  8443: "https-alt",
};

export function serviceName(port: number): string {
  return TOP.get(port) ?? NAMES[port] ?? "unknown";
}
