#!/usr/bin/env python3
"""A busy host for the test suite: connect attempts at a steady rate (default
500 a second) to addresses that never answer, from inside a network namespace
the caller made (test/support/busy-host.sh: ho-busy, 198.19.254.0/24 routed out
of a veth pair to a gateway that is not there, so every SYN leaves and nothing
comes back). Each attempt is closed
after --hold seconds, so about rate x hold stay half-open at any time. Runs
until killed. The tests must pass while it runs: they count only their own
namespaces and processes (issue 31).
"""
import argparse, errno, random, socket, time
from collections import deque

p = argparse.ArgumentParser()
p.add_argument("--rate", type=float, default=500.0)
p.add_argument("--hold", type=float, default=1.0)
p.add_argument("--prefix", default="198.19.254.")
a = p.parse_args()

held = deque()
interval = 1.0 / a.rate
next_at = time.monotonic()
while True:
    now = time.monotonic()
    while held and now - held[0][0] >= a.hold:
        held.popleft()[1].close()
    if now < next_at:
        time.sleep(min(next_at - now, 0.01))
        continue
    next_at += interval
    if next_at < now - 1.0:  # fell behind (a busy machine): do not burst to catch up
        next_at = now
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.setblocking(False)
    err = s.connect_ex((a.prefix + str(random.randint(1, 254)), random.randint(1024, 65000)))
    if err not in (0, errno.EINPROGRESS):
        s.close()
        continue
    held.append((now, s))
