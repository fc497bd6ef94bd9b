"""A slow peer for the enforcement lab: in the target namespace, it sees each
TCP SYN (without ACK) to ports LOW-HIGH arriving on IFACE (an AF_PACKET
socket: before the namespace's own input chain drops it, so the kernel never
answers) and refuses it with a RST+ACK exactly DELAY seconds later, from a
raw socket. Every attempt thus stays half-open DELAY seconds on the wire and
then ends, so a slot of the enforcer frees DELAY seconds after its SYN left.
Prints "ready"; on SIGTERM writes the first SYN of each 4-tuple as JSON
lines [monotonic seconds, source, source port, port] to OUT and exits.
Lab addresses only. Usage: slow-refuser.py IFACE DELAY LOW HIGH OUT"""
import heapq, json, select, signal, socket, struct, sys, time

sys.dont_write_bytecode = True  # no __pycache__ in the checkout
from lab_packets import ipv4_tcp  # noqa: E402

iface, delay, low, high, out = sys.argv[1], float(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), sys.argv[5]
ETH_P_IP = 0x0800


def rst(saddr, daddr, sport, dport, ack):
    return ipv4_tcp(saddr, daddr, sport, dport, 0, ack, 0x14, 0)


cap = socket.socket(socket.AF_PACKET, socket.SOCK_DGRAM, socket.htons(ETH_P_IP))
cap.bind((iface, ETH_P_IP))
send = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_RAW)
first = {}
due = []
stop = False


def on_term(*_):
    global stop
    stop = True


signal.signal(signal.SIGTERM, on_term)
print("ready", flush=True)
while not stop:
    now = time.monotonic()
    while due and due[0][0] <= now:
        _, saddr, daddr, sport, dport, ack = heapq.heappop(due)
        assert daddr.startswith("198.18.") or daddr.startswith("198.19."), "lab addresses only"
        send.sendto(rst(saddr, daddr, sport, dport, ack), (daddr, 0))
    timeout = max(0.0, due[0][0] - time.monotonic()) if due else 0.2
    try:
        ready, _, _ = select.select([cap], [], [], timeout)
    except InterruptedError:
        continue
    if not ready:
        continue
    pkt = cap.recv(128)
    if len(pkt) < 40 or pkt[9] != 6:
        continue
    ihl = (pkt[0] & 0x0F) * 4
    sport, dport, seq = struct.unpack("!HHI", pkt[ihl : ihl + 8])
    flags = pkt[ihl + 13]
    if flags & 0x12 != 0x02 or not (low <= dport <= high):
        continue
    src, dst = socket.inet_ntoa(pkt[12:16]), socket.inet_ntoa(pkt[16:20])
    key = (src, sport, dst, dport)
    if key in first:
        continue  # a resent SYN: the RST for the first one is due already
    t = time.monotonic()
    first[key] = t
    heapq.heappush(due, (t + delay, dst, src, dport, sport, (seq + 1) & 0xFFFFFFFF))
with open(out, "w") as f:
    for (src, sport, dst, dport), t in sorted(first.items(), key=lambda kv: kv[1]):
        f.write(json.dumps([t, src, sport, dport]) + "\n")
