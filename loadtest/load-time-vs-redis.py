#!/usr/bin/env python3
"""Load time of an RDB file: rust-keyval against redis-server, same file, alternating rounds.

  python3 loadtest/load-time-vs-redis.py [--keys 1000000] [--rounds 5] [--bin PATH]

redis-server writes the file (DEBUG POPULATE, values of 20 bytes); then each server starts
on a copy of it and the time from process start to the first +PONG is measured (both answer
-LOADING until loaded). Prints each round and the median ratio ours / redis. Loopback only;
every process started here is stopped here.
"""
import argparse, os, shutil, socket, statistics, subprocess, tempfile, time

def free_port():
    s = socket.socket(); s.bind(("127.0.0.1", 0)); p = s.getsockname()[1]; s.close(); return p

def ping(port):
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1) as s:
            s.sendall(b"PING\r\n"); return s.recv(100)
    except OSError:
        return None

def until_pong(proc, port, limit=300):
    t0 = time.time()
    while ping(port) != b"+PONG\r\n":
        if proc.poll() is not None: raise SystemExit(f"server exited with {proc.returncode}")
        if time.time() - t0 > limit: raise SystemExit("no +PONG in time")
        time.sleep(0.005)

def timed(cmd, cwd, port, env=None):
    t0 = time.time()
    p = subprocess.Popen(cmd, cwd=cwd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        until_pong(p, port); return time.time() - t0
    finally:
        p.terminate(); p.wait()

def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--keys", type=int, default=1_000_000)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--bin", default=os.path.join(os.path.dirname(__file__), "..", "target", "release", "rust-keyval"))
    a = ap.parse_args()
    work = tempfile.mkdtemp(prefix="loadtime-")
    try:
        port = free_port()
        gen = subprocess.Popen(["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--dir", work,
                                "--enable-debug-command", "yes"], stdout=subprocess.DEVNULL)
        until_pong(gen, port)
        subprocess.run(["redis-cli", "-p", str(port), "debug", "populate", str(a.keys), "key", "20"], check=True, stdout=subprocess.DEVNULL)
        subprocess.run(["redis-cli", "-p", str(port), "save"], check=True, stdout=subprocess.DEVNULL)
        gen.terminate(); gen.wait()
        rdir, kdir = os.path.join(work, "r"), os.path.join(work, "k")
        for d in (rdir, kdir):
            os.mkdir(d); shutil.copy(os.path.join(work, "dump.rdb"), d)
        size = os.path.getsize(os.path.join(work, "dump.rdb"))
        print(f"{a.keys} keys, {size / 1e6:.1f} MB")
        ratios = []
        for i in range(a.rounds):
            rp, kp = free_port(), free_port()
            env = dict(os.environ, KEYVAL_BIND=f"127.0.0.1:{kp}", METRICS_BIND="off", KEYVAL_SAVE="")
            r = timed(["redis-server", "--port", str(rp), "--bind", "127.0.0.1", "--save", "", "--dir", rdir], rdir, rp)
            k = timed([os.path.abspath(a.bin)], kdir, kp, env)
            ratios.append(k / r)
            print(f"round {i}: redis {r:.3f} s, rust-keyval {k:.3f} s, ratio {k / r:.2f}")
        print(f"median ratio {statistics.median(ratios):.2f}")
    finally:
        shutil.rmtree(work, ignore_errors=True)

if __name__ == "__main__":
    main()
