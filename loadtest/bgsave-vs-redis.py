#!/usr/bin/env python3
"""BGSAVE under a writer: rust-keyval (no fork) against redis-server (fork), one run.

For each server, fresh and alone: load KEYS keys of 100 bytes, then start a writer that
overwrites random keys (pipelines of 16, back to back) and a prober that sends PINGs one
at a time; BGSAVE; sample the server's RSS (and for Redis its fork child's) every 20 ms
until the save ends. Reports the save's duration, PING p50/p99/max during it, RSS before
and the peak during it (Redis: parent + child RSS, the child's own figure being mostly
shared pages, so Redis's copy-on-write figure rdb_last_cow_size is shown too), Redis's
fork time, and redis-check-rdb's verdict on the file.

Usage (repository root): python3 loadtest/bgsave-vs-redis.py
Env: KV_BIN (default target/release/rust-keyval), KEYS (default 1000000). Only loopback;
only the servers started here are stopped (by PID).
"""
import os
import random
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time

KV_BIN = os.environ.get("KV_BIN", "target/release/rust-keyval")
KEYS = int(os.environ.get("KEYS", "1000000"))
VALUE = b"v" * 100


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def encode(*args):
    out = [b"*%d\r\n" % len(args)]
    for a in args:
        out.append(b"$%d\r\n%s\r\n" % (len(a), a))
    return b"".join(out)


class Conn:
    def __init__(self, port):
        self.s = socket.create_connection(("127.0.0.1", port))
        self.s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.buf = b""

    def read_line(self):
        while b"\r\n" not in self.buf:
            chunk = self.s.recv(1 << 16)
            if not chunk:
                raise EOFError
            self.buf += chunk
        line, self.buf = self.buf.split(b"\r\n", 1)
        return line

    def read_reply(self):
        line = self.read_line()
        if line[:1] == b"$":
            n = int(line[1:])
            if n < 0:
                return None
            while len(self.buf) < n + 2:
                self.buf += self.s.recv(1 << 16)
            data, self.buf = self.buf[:n], self.buf[n + 2:]
            return data
        return line

    def call(self, *args):
        self.s.sendall(encode(*args))
        return self.read_reply()


def rss_kb(pid):
    try:
        with open("/proc/%d/status" % pid) as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def children(pid):
    try:
        with open("/proc/%d/task/%d/children" % (pid, pid)) as f:
            return [int(x) for x in f.read().split()]
    except OSError:
        return []


def info(conn, section):
    text = conn.call(b"INFO", section.encode()).decode()
    return dict(l.split(":", 1) for l in text.splitlines() if ":" in l)


def percentile(values, p):
    if not values:
        return float("nan")
    values = sorted(values)
    return values[min(len(values) - 1, int(len(values) * p))]


def run(kind):
    d = tempfile.mkdtemp(prefix="bgsave-%s-" % kind)
    port = free_port()
    if kind == "redis":
        cmd = ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "",
               "--appendonly", "no", "--dir", d]
    else:
        cmd = [os.path.abspath(KV_BIN), "--bind", "127.0.0.1:%d" % port, "--metrics-bind",
               "off", "--save", "", "--dir", d]
    log = open(os.path.join(d, "server.log"), "wb")
    proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, cwd=d)
    try:
        end = time.time() + 10
        while True:
            try:
                c = Conn(port)
                if c.call(b"PING") == b"+PONG":
                    break
            except OSError:
                if time.time() > end:
                    raise
                time.sleep(0.05)
        # Load the keys.
        batch = 1000
        for start in range(0, KEYS, batch):
            c.s.sendall(b"".join(encode(b"SET", b"key:%d" % i, VALUE)
                                 for i in range(start, min(KEYS, start + batch))))
            for _ in range(start, min(KEYS, start + batch)):
                c.read_reply()
        time.sleep(1)
        before = rss_kb(proc.pid)
        stop = threading.Event()
        pings = []
        writes = [0]

        def writer():
            w = Conn(port)
            rnd = random.Random(1)
            while not stop.is_set():
                w.s.sendall(b"".join(encode(b"SET", b"key:%d" % rnd.randrange(KEYS), b"w" * 100)
                                     for _ in range(16)))
                for _ in range(16):
                    w.read_reply()
                writes[0] += 16

        def prober():
            p = Conn(port)
            while not stop.is_set():
                t = time.perf_counter()
                p.call(b"PING")
                pings.append((time.perf_counter(), time.perf_counter() - t))
                time.sleep(0.001)

        threads = [threading.Thread(target=writer), threading.Thread(target=prober)]
        for t in threads:
            t.start()
        time.sleep(0.5)
        peak = before
        t0 = time.perf_counter()
        assert c.call(b"BGSAVE") == b"+Background saving started"
        while True:
            total = rss_kb(proc.pid) + sum(rss_kb(ch) for ch in children(proc.pid))
            peak = max(peak, total)
            if info(c, "persistence").get("rdb_bgsave_in_progress") == "0":
                break
            time.sleep(0.02)
        t1 = time.perf_counter()
        stop.set()
        for t in threads:
            t.join()
        during = [lat for (at, lat) in pings if t0 <= at <= t1]
        pers = info(c, "persistence")
        stats = info(c, "stats")
        check = subprocess.run(["redis-check-rdb", os.path.join(d, "dump.rdb")],
                               capture_output=True, text=True)
        ok = "RDB looks OK" in check.stdout
        return {
            "secs": t1 - t0,
            "status": pers.get("rdb_last_bgsave_status"),
            "p50": percentile(during, 0.50) * 1000,
            "p99": percentile(during, 0.99) * 1000,
            "max": max(during) * 1000 if during else float("nan"),
            "pings": len(during),
            "before_mb": before / 1024,
            "peak_mb": peak / 1024,
            "cow_mb": int(pers.get("rdb_last_cow_size", "0")) / 1048576,
            "fork_ms": int(stats.get("latest_fork_usec", "0")) / 1000,
            "check": "OK" if ok else "FAILED",
            "writes": writes[0],
        }
    finally:
        proc.terminate()
        proc.wait()
        shutil.rmtree(d, ignore_errors=True)


def main():
    results = {}
    for kind in ("redis", "keyval"):
        results[kind] = run(kind)
    print("BGSAVE of %d keys (100-byte values) under a writer; times in ms, memory in MB" % KEYS)
    cols = ["secs", "p50", "p99", "max", "pings", "before_mb", "peak_mb", "cow_mb", "fork_ms",
            "status", "check", "writes"]
    print("%-8s" % "server" + "".join("%11s" % c for c in cols))
    for kind, r in results.items():
        print("%-8s" % kind + "".join(
            ("%11.2f" % r[c]) if isinstance(r[c], float) else ("%11s" % r[c]) for c in cols))
    k, r = results["keyval"], results["redis"]
    print("keyval peak/before RSS: %.3f   redis (parent+child)/before: %.3f   "
          "redis (before+cow)/before: %.3f"
          % (k["peak_mb"] / k["before_mb"], r["peak_mb"] / r["before_mb"],
             (r["before_mb"] + r["cow_mb"]) / r["before_mb"]))
    return 0 if k["check"] == "OK" and k["status"] == "ok" else 1


if __name__ == "__main__":
    sys.exit(main())
