"""A small raw-socket SYN sender for the raw-sender lab tests: IPv4 with
IP_HDRINCL (the way Mirai's scanner and hping3 send), to `count` random
destinations inside the /16 of `base` (the test's own lab), at most `rate`
a second, on a raw IPPROTO_TCP socket. Prints its pid, then one line per
second sent. Usage: raw-syn-sender.py SRC BASE COUNT RATE [PORT]"""
import os, random, socket, sys, time

sys.dont_write_bytecode = True  # no __pycache__ in the checkout
from lab_packets import ipv4_tcp  # noqa: E402

src, base, count, rate = sys.argv[1], sys.argv[2], int(sys.argv[3]), float(sys.argv[4])
port = int(sys.argv[5]) if len(sys.argv) > 5 else 0
prefix = base.split(".")[:2]
assert prefix[0] == "198" and prefix[1] in ("18", "19"), "lab addresses only (198.18.0.0/15)"


def syn(saddr, daddr, sport, dport):
    return ipv4_tcp(saddr, daddr, sport, dport, random.getrandbits(32), 0, 0x02, 1024, random.getrandbits(16))


s = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_TCP)
s.setsockopt(socket.IPPROTO_IP, socket.IP_HDRINCL, 1)
print(os.getpid(), flush=True)
gap = 1.0 / rate
start = time.monotonic()
for i in range(count):
    dst = "%s.%s.%d.%d" % (prefix[0], prefix[1], random.randint(2, 254), random.randint(1, 254))
    s.sendto(syn(src, dst, random.randint(20000, 60000), port or random.choice((22, 23, 80, 443, 2323, 8080))), (dst, 0))
    delay = start + (i + 1) * gap - time.monotonic()
    if delay > 0:
        time.sleep(delay)
print("sent", count, flush=True)
