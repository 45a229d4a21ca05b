#!/usr/bin/python3
# wire_sniff.py IFACE PORT OUT: append the TCP payload of every packet to or
# from PORT on IFACE (AF_PACKET, as tcpdump would see it) to OUT, until
# killed.  Tests grep OUT for plaintext that must not be on the wire.
import socket
import struct
import sys

iface, port, out = sys.argv[1], int(sys.argv[2]), sys.argv[3]
s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.ntohs(0x0003))
s.bind((iface, 0))
with open(out, "ab", buffering=0) as f:
    f.write(b"")
    print("sniffing", flush=True)
    while True:
        pkt = s.recv(65535)
        eth = struct.unpack("!H", pkt[12:14])[0]
        p = pkt[14:]
        if eth == 0x0800:
            ihl = (p[0] & 15) * 4
            if p[9] != 6:
                continue
            tcp = p[ihl:]
        elif eth == 0x86DD:
            if p[6] != 6:
                continue
            tcp = p[40:]
        else:
            continue
        sport, dport = struct.unpack("!HH", tcp[:4])
        if port not in (sport, dport):
            continue
        off = (tcp[12] >> 4) * 4
        if len(tcp) > off:
            f.write(tcp[off:])
