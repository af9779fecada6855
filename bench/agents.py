#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Device-agent benchmark: how many agents one tinyfleetd polls per minute.

Starts a fake fleet of N device agents (docs/agent-protocol.md) on 127.0.0.1: one stateless
HTTP server (a few processes sharing the port with SO_REUSEPORT, HTTP/1.1 keep-alive) serving N
Thing Descriptions at /a/<k>/td, their devices and their results. Then starts tinyfleetd
(127.0.0.1, port 0, its own state directory) with the N agents in agents_file, waits until every
agent has been polled once, and counts the results requests the fleet answers in a window of
--seconds: polls per minute, and the daemon's CPU time in that window.

Two modes: "empty" (nothing new: a poll is a request and a JSON parse) and "new" (every reply
carries one new result: a poll is also a durable commit of the result and the cursor, one
fdatasync each). The peer, measured in the same run against the same fake fleet for the same
window: a plain Python poller (a thread pool as large as agent_concurrency, urllib over kept-alive
connections, the same GET and JSON parse, no store). It shows what the fake fleet and the
machine give a poller that does less than the daemon.

It prints figures and never fails on them. Usage:

  bench/agents.py [--agents N] [--seconds S] [--interval S] [--concurrency C] [--mode both]
                  [--workers W] [--tinyfleetd PATH]
"""
import argparse
import concurrent.futures
import http.client
import json
import multiprocessing
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

HERE = os.path.dirname(os.path.abspath(__file__))
SRC = os.path.dirname(HERE)
SHA = "ab" * 32


# ---- the fake fleet ----------------------------------------------------------------------------

def td(port, k):
    return {
        "@context": "https://www.w3.org/2022/wot/td/v1.1",
        "title": "bench agent %d" % k,
        "base": "http://127.0.0.1:%d/a/%d/" % (port, k),
        "securityDefinitions": {"nosec_sc": {"scheme": "nosec"}},
        "security": "nosec_sc",
        "properties": {
            "devices": {"forms": [{"href": "devices", "op": "readproperty"}]},
            "results": {"forms": [{"href": "results{?since,limit}", "op": "readproperty"}]},
        },
    }


def result(k, n):
    return {"id": str(n), "device": "urn:bench:board:%d" % k, "model_sha256": SHA,
            "framework": "tflm", "runs": 10,
            "latency_ms": {"median": 10.0, "p90": 11.0, "min": 9.0, "max": 12.0},
            "started": "2024-05-01T10:00:00Z", "finished": "2024-05-01T10:00:01Z",
            "status": "ok"}


def make_handler(port, mode, counter):
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args):
            pass

        def send(self, obj):
            body = json.dumps(obj).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_GET(self):
            url = urllib.parse.urlsplit(self.path)
            parts = url.path.split("/")
            if len(parts) != 4 or parts[1] != "a" or not parts[2].isdigit():
                self.send_error(404)
                return
            k, what = int(parts[2]), parts[3]
            if what == "td":
                self.send(td(port, k))
            elif what == "devices":
                self.send(["urn:bench:board:%d" % k])
            elif what == "results":
                q = urllib.parse.parse_qs(url.query)
                since = int(q.get("since", ["0"])[0])
                with counter.get_lock():
                    counter.value += 1
                if mode.value == 1:  # one new result per poll
                    self.send({"results": [result(k, since + 1)], "next": str(since + 1)})
                else:
                    self.send({"results": [], "next": str(since)})
            else:
                self.send_error(404)

    return Handler


class ReusePortServer(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 1024

    def server_bind(self):
        self.socket.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        super().server_bind()

    def handle_error(self, request, client_address):
        pass  # a poller that went away mid-reply (the daemon stopping) is no news


def serve(port, mode, counter, ready):
    srv = ReusePortServer(("127.0.0.1", port), make_handler(port, mode, counter))
    ready.release()
    srv.serve_forever()


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


# ---- the daemon ---------------------------------------------------------------------------------

def cpu_seconds(pid):
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def get_json(port, path):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    c.request("GET", path)
    r = c.getresponse()
    body = r.read()
    c.close()
    return json.loads(body)


def run_daemon(tfd, work, fleet_port, n, args, counter):
    state = os.path.join(work, "state")
    os.makedirs(state)
    agents = os.path.join(work, "agents")
    with open(agents, "w") as f:
        for k in range(n):
            f.write("http://127.0.0.1:%d/a/%d/td %gs\n" % (fleet_port, k, args.interval))
    conf = os.path.join(work, "tinyfleetd.conf")
    with open(conf, "w") as f:
        f.write("ontology_dir %s/ontology\nsparql_dir %s/sparql\nlog_level warning\n"
                "agents_file %s\nagent_concurrency %d\nagent_timeout 10\n"
                % (SRC, SRC, agents, args.concurrency))
    port_file = os.path.join(work, "port")
    log = open(os.path.join(work, "daemon.log"), "w")
    t0 = time.time()
    proc = subprocess.Popen([tfd, "-c", conf, "-l", "127.0.0.1:0", "-d", state,
                             "--port-file", port_file], stdout=log, stderr=log)
    port = None
    while time.time() < t0 + 120:
        if os.path.exists(port_file):
            text = open(port_file).read()
            if text.endswith("\n"):
                port = int(text)
                break
        if proc.poll() is not None:
            sys.exit("tinyfleetd exited during start-up; see %s/daemon.log" % work)
        time.sleep(0.02)
    if port is None:
        proc.kill()
        sys.exit("tinyfleetd did not start")
    started = time.time() - t0
    # every agent polled once (its TD and devices read, a results request answered)
    deadline = time.time() + 300
    while time.time() < deadline:
        items = get_json(port, "/api/v1/agents")["items"]
        if len(items) == n and all(a["status"] == "ok" for a in items):
            break
        time.sleep(0.2)
    warm = time.time() - t0
    c0, cpu0, w0 = counter.value, cpu_seconds(proc.pid), time.time()
    time.sleep(args.seconds)
    c1, cpu1, w1 = counter.value, cpu_seconds(proc.pid), time.time()
    items = get_json(port, "/api/v1/agents")["items"]
    failing = sum(1 for a in items if a["status"] != "ok")
    received = sum(a["results_received"] for a in items)
    proc.send_signal(signal.SIGTERM)
    proc.wait(timeout=60)
    return {"polls": (c1 - c0) / (w1 - w0) * 60, "cpu": (cpu1 - cpu0) / (w1 - w0),
            "start": started, "warm": warm, "failing": failing, "received": received}


# ---- the peer -----------------------------------------------------------------------------------

def run_peer(fleet_port, n, args, counter):
    local = threading.local()
    stop = time.time() + args.seconds + 1.0
    cursors = [0] * n

    def poll(k):
        c = getattr(local, "conn", None)
        if c is None:
            c = local.conn = http.client.HTTPConnection("127.0.0.1", fleet_port, timeout=10)
        c.request("GET", "/a/%d/results?since=%d&limit=100" % (k, cursors[k]))
        reply = json.loads(c.getresponse().read())
        cursors[k] = int(reply["next"])

    def worker(offset):
        k = offset
        while time.time() < stop:
            try:
                poll(k % n)
            except (OSError, http.client.HTTPException):
                local.conn = None
            k += args.concurrency

    with concurrent.futures.ThreadPoolExecutor(args.concurrency) as ex:
        futures = [ex.submit(worker, i) for i in range(args.concurrency)]
        time.sleep(1.0)  # connections up
        c0, w0, cpu0 = counter.value, time.time(), time.process_time()
        time.sleep(args.seconds - 0.05)
        c1, w1, cpu1 = counter.value, time.time(), time.process_time()
        for f in futures:
            f.result()
    return {"polls": (c1 - c0) / (w1 - w0) * 60, "cpu": (cpu1 - cpu0) / (w1 - w0)}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--agents", type=int, nargs="+", default=[100, 1000])
    ap.add_argument("--seconds", type=float, default=20)
    ap.add_argument("--interval", type=float, default=0.1,
                    help="poll interval of every agent (seconds; 0.1 is the daemon's minimum)")
    ap.add_argument("--concurrency", type=int, default=64)
    ap.add_argument("--mode", choices=["empty", "new", "both"], default="both")
    ap.add_argument("--workers", type=int, default=2, help="fake fleet server processes")
    ap.add_argument("--tinyfleetd")
    args = ap.parse_args()
    tfd = args.tinyfleetd or next((p for p in [os.path.join(os.getcwd(), "daemon/tinyfleetd"),
                                               os.path.join(SRC, "daemon/tinyfleetd")]
                                   if os.access(p, os.X_OK)), None)
    if not tfd:
        sys.exit("no tinyfleetd: build it or pass --tinyfleetd")
    ver = subprocess.run([tfd, "--version"], capture_output=True, text=True).stdout.strip()
    print("device-agent benchmark: %s (%s), %d cores, interval %g s, agent_concurrency %d, "
          "%g s windows, fake fleet: %d server processes"
          % (ver, tfd, os.cpu_count(), args.interval, args.concurrency, args.seconds,
             args.workers))
    print("load average at start: %s" % open("/proc/loadavg").read().split(" ", 3)[:3])
    modes = ["empty", "new"] if args.mode == "both" else [args.mode]
    rows = []
    fleet_port = free_port()
    counter = multiprocessing.Value("L", 0)
    mode = multiprocessing.Value("i", 0)
    ready = multiprocessing.Semaphore(0)
    servers = [multiprocessing.Process(target=serve, args=(fleet_port, mode, counter, ready),
                                       daemon=True) for _ in range(args.workers)]
    for s in servers:
        s.start()
    for _ in servers:
        ready.acquire()
    try:
        for m in modes:
            mode.value = 1 if m == "new" else 0
            for n in args.agents:
                work = tempfile.mkdtemp(prefix="tinyfleet-bench-agents-")
                try:
                    d = run_daemon(tfd, work, fleet_port, n, args, counter)
                    p = run_peer(fleet_port, n, args, counter)
                finally:
                    shutil.rmtree(work, ignore_errors=True)
                ideal = n * 60 / args.interval
                rows.append((m, n, d, p, ideal))
                print("  %-5s %5d agents: daemon %9.0f polls/min (cpu %.2f cores, ready in %.1f s,"
                      " %d failing, %d results), peer %9.0f polls/min (cpu %.2f cores)"
                      % (m, n, d["polls"], d["cpu"], d["warm"], d["failing"], d["received"],
                         p["polls"], p["cpu"]), flush=True)
    finally:
        for s in servers:
            s.terminate()
    print()
    print("| mode  | agents | asked/min | tinyfleetd polls/min | CPU ms/poll | "
          "Python poller polls/min | CPU ms/poll | polls tf/peer |")
    print("|-------|--------|-----------|----------------------|-------------|"
          "-------------------------|-------------|---------------|")
    for m, n, d, p, ideal in rows:
        print("| %-5s | %6d | %9.0f | %20.0f | %11.3f | %23.0f | %11.3f | %13.2f |"
              % (m, n, ideal, d["polls"], d["cpu"] * 60000 / max(d["polls"], 1), p["polls"],
                 p["cpu"] * 60000 / max(p["polls"], 1),
                 d["polls"] / p["polls"] if p["polls"] else 0))
    print()
    print("asked: n agents x 60 / interval; 'new' stores one result per poll; CPU ms/poll: the "
          "poller's own CPU time (the daemon process; the Python poller's process) per poll.")
    print("load average at end: %s" % open("/proc/loadavg").read().split(" ", 3)[:3])


if __name__ == "__main__":
    main()
