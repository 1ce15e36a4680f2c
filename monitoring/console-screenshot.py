#!/usr/bin/env python3
"""Screenshot of the live console after it has run in real time (monitoring/console.png).

    monitoring/console-screenshot.py http://127.0.0.1:9100/ monitoring/console.png [SECONDS]

`chromium --headless --screenshot` shoots as soon as the page has loaded, and with
--virtual-time-budget the page's once-a-second polls all happen within a moment of real
time; so this drives headless Chromium over the DevTools protocol instead (on a pipe, no
extra Python package): open the page, let it poll for SECONDS (default 75) of real time,
capture the viewport. Run some load against the server meanwhile (redis-benchmark...).
"""

import base64
import fcntl
import json
import os
import subprocess
import sys
import tempfile
import time


def main():
    if len(sys.argv) < 3:
        sys.exit(__doc__)
    url, out = sys.argv[1], sys.argv[2]
    seconds = float(sys.argv[3]) if len(sys.argv) > 3 else 75.0
    # --remote-debugging-pipe reads commands on fd 3 and writes answers on fd 4: move the
    # pipes above them first, so that placing the child's ends there overwrites nothing.
    pipes = (*os.pipe(), *os.pipe())
    ends = [fcntl.fcntl(fd, fcntl.F_DUPFD_CLOEXEC, 10) for fd in pipes]
    for fd in pipes:
        os.close(fd)
    to_chrome_r, to_chrome_w, from_chrome_r, from_chrome_w = ends
    os.dup2(to_chrome_r, 3, inheritable=True)
    os.dup2(from_chrome_w, 4, inheritable=True)
    profile = tempfile.mkdtemp(prefix="console-shot-")
    chrome = subprocess.Popen(
        [
            "chromium", "--headless", "--no-sandbox", "--disable-gpu",
            "--disable-dev-shm-usage", "--no-first-run", "--hide-scrollbars",
            f"--user-data-dir={profile}", "--remote-debugging-pipe", "about:blank",
        ],
        pass_fds=(3, 4), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    os.close(3)
    os.close(4)
    os.close(to_chrome_r)
    os.close(from_chrome_w)
    pending = b""
    next_id = 0

    def call(method, params=None, session=None):
        nonlocal pending, next_id
        next_id += 1
        message = {"id": next_id, "method": method, "params": params or {}}
        if session:
            message["sessionId"] = session
        os.write(to_chrome_w, json.dumps(message).encode() + b"\0")
        while True:
            while b"\0" not in pending:
                chunk = os.read(from_chrome_r, 1 << 20)
                if not chunk:
                    raise SystemExit("chromium closed the pipe")
                pending += chunk
            raw, pending = pending.split(b"\0", 1)
            answer = json.loads(raw)
            if answer.get("id") == next_id:
                if "error" in answer:
                    raise SystemExit(f"{method}: {answer['error']}")
                return answer["result"]

    try:
        target = call("Target.createTarget", {"url": "about:blank"})["targetId"]
        session = call("Target.attachToTarget", {"targetId": target, "flatten": True})["sessionId"]
        call("Emulation.setDeviceMetricsOverride",
             {"width": 1400, "height": 1180, "deviceScaleFactor": 1, "mobile": False}, session)
        call("Page.enable", {}, session)
        call("Page.navigate", {"url": url}, session)
        time.sleep(seconds)
        shot = call("Page.captureScreenshot", {"format": "png"}, session)
        with open(out, "wb") as f:
            f.write(base64.b64decode(shot["data"]))
        print(f"wrote {out}")
    finally:
        chrome.terminate()
        chrome.wait()


if __name__ == "__main__":
    main()
