#!/usr/bin/env python3
"""Regenerates the expected replies of a golden file from a real redis-server.

Usage: record.py PORT FILE.txt   (redis-server 7 listening on 127.0.0.1:PORT)

A golden file holds commands, one per line, each followed by `=> <reply>` where the reply
is written with \\r \\n \\xHH escapes. Lines starting with # are comments. A line
starting with `? ` is a command whose reply is not compared (e.g. `? HELLO 3`, which
switches the rest of the file to RESP3 and answers with a connection id). The script keeps
every command and comment and rewrites each `=>` line with what redis-server answered,
so goldens are Redis's own behaviour, not ours. Runs FLUSHALL first, on one connection.
"""
import socket, sys

def split_args(line):
    """Splits like redis-cli: spaces separate, "..." allows \\" \\\\ \\r \\n \\t \\xHH."""
    args, cur, i, quoted, have = [], bytearray(), 0, False, False
    while i < len(line):
        c = line[i]
        if quoted:
            if c == '\\' and i + 1 < len(line):
                n = line[i + 1]
                if n == 'x':
                    cur.append(int(line[i + 2:i + 4], 16)); i += 4; continue
                cur += {'r': b'\r', 'n': b'\n', 't': b'\t'}.get(n, n.encode()); i += 2; continue
            if c == '"':
                quoted = False; i += 1; continue
            cur += c.encode(); i += 1; continue
        if c == ' ':
            if have: args.append(bytes(cur)); cur = bytearray(); have = False
            i += 1; continue
        if c == '"':
            quoted = True; have = True; i += 1; continue
        cur += c.encode(); have = True; i += 1
    if have: args.append(bytes(cur))
    return args

def encode(args):
    out = b'*%d\r\n' % len(args)
    for a in args:
        out += b'$%d\r\n%s\r\n' % (len(a), a)
    return out

def escape(b):
    out = ''
    for x in b:
        if x == 13: out += '\\r'
        elif x == 10: out += '\\n'
        elif x == 92: out += '\\\\'
        elif 32 <= x < 127: out += chr(x)
        else: out += '\\x%02x' % x
    return out

def reply_len(buf, at=0):
    if at >= len(buf): return None
    end = buf.find(b'\r\n', at)
    if end < 0: return None
    t, head = buf[at:at+1], buf[at+1:end]
    if t in b'+-:,#_(': return end + 2
    n = int(head)
    if t in b'$=!':
        if n < 0: return end + 2
        stop = end + 2 + n + 2
        return stop if len(buf) >= stop else None
    pos = end + 2
    for _ in range(max(0, n * 2 if t == b'%' else n)):
        pos = reply_len(buf, pos)
        if pos is None: return None
    return pos

def main():
    port, path = int(sys.argv[1]), sys.argv[2]
    s = socket.create_connection(('127.0.0.1', port))
    buf = b''
    def call(args):
        nonlocal buf
        s.sendall(encode(args))
        while True:
            n = reply_len(buf)
            if n is not None:
                r, buf = buf[:n], buf[n:]
                return r
            buf += s.recv(65536)
    call([b'FLUSHALL'])
    out = []
    for line in open(path).read().splitlines():
        if line.startswith('=> '):
            continue
        out.append(line)
        if line.startswith('? '):
            call(split_args(line[2:]))
        elif line.strip() and not line.startswith('#'):
            out.append('=> ' + escape(call(split_args(line))))
    open(path, 'w').write('\n'.join(out) + '\n')

main()
