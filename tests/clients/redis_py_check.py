"""redis-py against rust-keyval, with the client's default options (redis-py 8 speaks RESP3
through HELLO 3 and sends CLIENT SETINFO on connect). Exits non-zero on the first mismatch.

Usage: python3 redis_py_check.py PORT
"""
import sys

import redis

PORT = int(sys.argv[1])
r = redis.Redis(host="127.0.0.1", port=PORT)


def check(what, got, want):
    if got != want:
        print(f"FAIL {what}: got {got!r}, want {want!r}")
        sys.exit(1)
    print(f"ok   {what}")


r.flushall()
info = {c["id"]: c for c in r.client_list()}
me = info[str(r.client_id())]
check("negotiated RESP3 by default", me["resp"], "3")
check("CLIENT SETINFO lib-name", me["lib-name"], "redis-py")
check("PING", r.ping(), True)
check("SET", r.set("greeting", "hello"), True)
check("GET", r.get("greeting"), b"hello")
check("SET NX on existing", r.set("greeting", "x", nx=True), None)
check("MSET/MGET", (r.mset({"a": 1, "b": 2}), r.mget("a", "b", "nope")), (True, [b"1", b"2", None]))
check("INCR", r.incr("counter"), 1)
check("INCRBY", r.incrby("counter", 10), 11)
check("INCRBYFLOAT", r.incrbyfloat("float", 0.1), 0.1)
check("EXPIRE/TTL", (r.expire("greeting", 100), r.ttl("greeting")), (True, 100))
check("EXISTS", r.exists("a", "b", "nope"), 2)
check("DEL", r.delete("a", "nope"), 1)
check("TYPE", r.type("b"), b"string")
check("KEYS", sorted(r.keys("*")), [b"b", b"counter", b"float", b"greeting"])
check("SCAN iter", sorted(r.scan_iter(count=2)), [b"b", b"counter", b"float", b"greeting"])
check("DBSIZE", r.dbsize(), 4)
check("INFO", r.info()["redis_version"] is not None, True)
check("CONFIG GET", r.config_get("maxclients"), {"maxclients": "10000"})

# pipeline() defaults to MULTI/EXEC.
pipe = r.pipeline()
pipe.set("p", 1).incr("p").get("p")
check("pipeline (MULTI/EXEC)", pipe.execute(), [True, 2, b"2"])
pipe = r.pipeline(transaction=False)
pipe.incr("q").incr("q")
check("pipeline without transaction", pipe.execute(), [1, 2])


# WATCH-based optimistic locking, the redis-py way.
def bump(p):
    value = int(p.get("p"))
    p.multi()
    p.set("p", value + 1)


check("transaction() with WATCH", r.transaction(bump, "p"), [True])
check("value after transaction", r.get("p"), b"3")

# Errors surface as exceptions with Redis's text.
r.set("s", "notanumber")
try:
    r.incr("s")
    check("INCR on a string raises", False, True)
except redis.ResponseError as e:
    check("INCR error text", str(e), "value is not an integer or out of range")

# Pub/sub, the redis-py way: a PubSub object on its own connection, get_message polling.
import time

ps = r.pubsub()
ps.subscribe("events")
ps.psubscribe("ev*")


def next_message(timeout=5.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        m = ps.get_message(timeout=0.1)
        if m is not None:
            return m
    raise AssertionError("no pub/sub message within the deadline")


check("subscribe confirmation", next_message()["type"], "subscribe")
check("psubscribe confirmation", next_message()["type"], "psubscribe")
check("PUBLISH receivers", r.publish("events", "hello"), 2)
got = sorted((m["type"], m["channel"], m["data"]) for m in (next_message(), next_message()))
check(
    "message and pmessage",
    got,
    [("message", b"events", b"hello"), ("pmessage", b"events", b"hello")],
)
check("PUBSUB NUMSUB", r.pubsub_numsub("events"), [(b"events", 1)])
ps.unsubscribe("events")
ps.punsubscribe("ev*")
check("unsubscribe confirmation", next_message()["type"], "unsubscribe")
check("punsubscribe confirmation", next_message()["type"], "punsubscribe")
check("PUBLISH after unsubscribe", r.publish("events", "nobody"), 0)
ps.close()

# Lock: acquire, extend, reacquire and release are Lua scripts (EVALSHA, after
# SCRIPT LOAD or an EVAL fallback on NOSCRIPT), with the client's defaults.
lock = r.lock("resource", timeout=10)
check("Lock acquire", lock.acquire(blocking=False), True)
check("Lock held by us", lock.owned(), True)
other = r.lock("resource", timeout=10)
check("Lock taken: second acquire fails", other.acquire(blocking=False), False)
check("Lock extend", lock.extend(5), True)
check("Lock TTL after extend", 10000 < r.pttl("resource") <= 15000, True)
check("Lock reacquire", lock.reacquire(), True)
check("Lock TTL after reacquire", 0 < r.pttl("resource") <= 10000, True)
lock.release()
check("Lock released", r.exists("resource"), 0)
try:
    lock.release()
    check("release of a lock not held raises", False, True)
except redis.exceptions.LockError:
    check("release of a lock not held raises", True, True)
check("Lock acquire after release", other.acquire(blocking=False), True)
other.release()
# A script registered once and called by SHA, as libraries do.
incr_by = r.register_script("return redis.call('INCRBY', KEYS[1], ARGV[1])")
check("Script object (EVALSHA)", incr_by(keys=["scripted"], args=[5]), 5)
check("Script object again", incr_by(keys=["scripted"], args=[5]), 10)
r.script_flush()
check("Script object after SCRIPT FLUSH (NOSCRIPT -> reload)", incr_by(keys=["scripted"], args=[1]), 11)

print("all redis-py checks passed")
