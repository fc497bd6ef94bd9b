"""What the lab's Python packet tools share: the Internet checksum and a TCP
header with its checksum over the IPv4 pseudo-header, behind an IPv4 header
(raw-syn-sender.py, slow-refuser.py). Lab addresses only: the callers check."""
import socket, struct


def checksum(data):
    if len(data) % 2:
        data += b"\0"
    s = sum(struct.unpack("!%dH" % (len(data) // 2), data))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return ~s & 0xFFFF


def ipv4_tcp(saddr, daddr, sport, dport, seq, ack, flags, window, ip_id=0):
    tcp = struct.pack("!HHIIBBHHH", sport, dport, seq, ack, 5 << 4, flags, window, 0, 0)
    pseudo = socket.inet_aton(saddr) + socket.inet_aton(daddr) + struct.pack("!BBH", 0, 6, len(tcp))
    tcp = tcp[:16] + struct.pack("!H", checksum(pseudo + tcp)) + tcp[18:]
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(tcp), ip_id, 0, 64, 6, 0, socket.inet_aton(saddr), socket.inet_aton(daddr))
    return ip + tcp
