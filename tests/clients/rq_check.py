"""rq's enqueue -> worker -> result flow against the server (issue 12: rq's jobs stayed
"started" forever while XADD, which rq runs inside MULTI to store results, was missing).

Usage: rq_check.py PORT. Prints "N checks passed" on success.
"""
import sys

import redis
from rq import Queue, SimpleWorker
from rq.job import JobStatus

port = int(sys.argv[1])
conn = redis.Redis(port=port)
conn.flushall()
checks = 0


def check(cond, what):
    global checks
    if not cond:
        raise SystemExit(f"FAILED: {what}")
    checks += 1


q = Queue("default", connection=conn)
ok = q.enqueue("operator.add", 2, 3)
bad = q.enqueue("operator.truediv", 1, 0)
check(q.count == 2, "two jobs queued")
SimpleWorker([q], connection=conn).work(burst=True)
ok.refresh()
bad.refresh()
check(ok.get_status() == JobStatus.FINISHED, f"job finished ({ok.get_status()})")
check(ok.return_value() == 5, f"result 5 ({ok.return_value()})")
check(bad.get_status() == JobStatus.FAILED, f"failing job failed ({bad.get_status()})")
results = ok.results()
check(len(results) == 1 and results[0].return_value == 5, "result history (a stream)")
check(conn.type(f"rq:results:{ok.id}") == b"stream", "results are kept in a stream")
check(q.count == 0, "queue drained")
print(f"{checks} checks passed")
