#!/usr/bin/env python3
"""Sorted-set algebra on big sets: rust-keyval against redis-server, same data, alternating rounds.

  python3 loadtest/zset-algebra-vs-redis.py [--size 100000] [--rounds 7] [--calls 10] [--bin PATH]
                                            [--ports OURS,REDIS]

Both servers start on loopback ports (free ones unless --ports) (pinned to CPU 0 when taskset exists, as
../shared/bench/vs-redis.sh does) and get the same two sorted sets of --size members, half of
them shared, with random scores. Then each command below runs --calls times on one server,
then on the other, --rounds times; each round's mean time per call is printed, then the
median ratio redis / ours per command (above 1: we are faster). Every process started here
is stopped here. Needs redis-server and redis-py.
"""
import argparse, os, random, shutil, socket, statistics, subprocess, tempfile, time

import redis

COMMANDS = [
    ["ZUNIONSTORE", "dst", "2", "a", "b"],
    ["ZINTERSTORE", "dst", "2", "a", "b"],
    ["ZDIFFSTORE", "dst", "2", "a", "b"],
    ["ZUNIONSTORE", "dst", "2", "a", "b", "WEIGHTS", "2", "0.5", "AGGREGATE", "MAX"],
    ["ZINTERCARD", "2", "a", "b"],
    ["ZRANGESTORE", "dst", "a", "0", "-1"],
]


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def start(cmd, port, cwd):
    pin = ["taskset", "-c", "0"] if shutil.which("taskset") else []
    proc = subprocess.Popen(pin + cmd, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    client = redis.Redis(port=port)
    for _ in range(500):
        try:
            client.ping()
            return proc, client
        except redis.ConnectionError:
            time.sleep(0.01)
    proc.terminate()
    raise SystemExit(f"no server on port {port}")


def fill(client, size, seed):
    rng = random.Random(seed)
    for key, offset in (("a", 0), ("b", size // 2)):
        client.delete(key)
        for start in range(0, size, 10_000):
            pairs = {}
            for i in range(start, min(start + 10_000, size)):
                pairs[f"member:{i + offset}"] = rng.choice(
                    (rng.randint(0, 1_000_000), rng.random() * 1000)
                )
            client.zadd(key, pairs)


def timed(client, cmd, calls):
    client.execute_command(*cmd)  # warm up: the destination exists from here on
    t0 = time.perf_counter()
    for _ in range(calls):
        client.execute_command(*cmd)
    return (time.perf_counter() - t0) / calls


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--size", type=int, default=100_000)
    ap.add_argument("--rounds", type=int, default=7)
    ap.add_argument("--calls", type=int, default=10)
    ap.add_argument("--bin", default="target/release/rust-keyval")
    ap.add_argument("--ports", help="OURS,REDIS instead of free ports")
    args = ap.parse_args()
    work = tempfile.mkdtemp(prefix="zalgebra-bench-")
    if args.ports:
        ours_port, redis_port = (int(p) for p in args.ports.split(","))
    else:
        ours_port, redis_port = free_port(), free_port()
    servers = []
    try:
        servers.append(start([os.path.abspath(args.bin), "--bind", f"127.0.0.1:{ours_port}",
                              "--metrics-bind", "off", "--save", ""], ours_port, work))
        servers.append(start(["redis-server", "--port", str(redis_port), "--bind", "127.0.0.1",
                              "--save", "", "--appendonly", "no"], redis_port, work))
        (_, ours), (_, ref) = servers
        for client in (ours, ref):
            fill(client, args.size, 42)
        for cmd in (["ZUNIONSTORE", "check", "2", "a", "b"],):
            assert ours.execute_command(*cmd) == ref.execute_command(*cmd), cmd
        assert ours.zrange("check", 0, -1, withscores=True) == ref.zrange("check", 0, -1, withscores=True)
        print(f"two sorted sets of {args.size} members, half shared; mean ms per call")
        for cmd in COMMANDS:
            ratios = []
            for r in range(args.rounds):
                t_ours = timed(ours, cmd, args.calls)
                t_ref = timed(ref, cmd, args.calls)
                ratios.append(t_ref / t_ours)
                print(f"  {' '.join(cmd)}  round {r + 1}: ours {t_ours * 1e3:.1f}  redis {t_ref * 1e3:.1f}"
                      f"  ratio {t_ref / t_ours:.2f}")
            print(f"{' '.join(cmd)}: median ratio redis/ours {statistics.median(ratios):.2f}")
    finally:
        for proc, _ in servers:
            proc.terminate()
            proc.wait()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
