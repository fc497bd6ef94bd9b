/**
 * TCP states as the kernel numbers them (from include/net/tcp_states.h).
 * The tracepoint sock:inet_sock_set_state reports these numbers.
 */
export const TcpState = {
  ESTABLISHED: 1,
  SYN_SENT: 2,
  SYN_RECV: 3,
  FIN_WAIT1: 4,
  FIN_WAIT2: 5,
  TIME_WAIT: 6,
  CLOSE: 7,
  CLOSE_WAIT: 8,
  LAST_ACK: 9,
  LISTEN: 10,
  CLOSING: 11,
  NEW_SYN_RECV: 12,
} as const;

const NAMES = new Map<number, string>(Object.entries(TcpState).map(([k, v]) => [v, k]));

/**
 * Name of a kernel TCP state number, e.g. `tcpStateName(2) === "SYN_SENT"`.
 * Unknown numbers are returned as `STATE_<n>`.
 */
export function tcpStateName(state: number): string {
  return NAMES.get(state) ?? `STATE_${state}`;
}
