#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Model registry benchmark: uploads per second of the paper's 23 real models.

Starts tinyfleetd on 127.0.0.1 (port 0, its own state directory under a temporary directory)
and, in rounds, uploads every model of ../shared/tinyml-kg/models with its metadata as one
multipart POST /api/v1/models on a kept-alive connection, then deletes them all again. Peers
measured in the same run, so that the figure has something to stand against:

  * graph store: each model's triples (made once with tinyfleet-inspect --format turtle) PUT to
    /data?graph=... on the same daemon: the HTTP + parse + durable-commit floor of a write of
    the same size, without the analysis and the file;
  * analysis: tinyfleet-inspect over the same files, one process per file (the C analysis
    alone, process start included).

It prints figures and ratios and never fails on them. Usage:

  bench/models.py [--rounds N] [--tinyfleetd PATH] [--inspect PATH] [--shared DIR]
"""
import argparse
import http.client
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.parse

HERE = os.path.dirname(os.path.abspath(__file__))
SRC = os.path.dirname(HERE)
TOKEN = "bench-write-0123456789abcdef"


def find(path_opts):
    for p in path_opts:
        if p and os.access(p, os.X_OK):
            return p
    return None


def start_daemon(tfd, work):
    state = os.path.join(work, "state")
    os.makedirs(state)
    tokens = os.path.join(work, "tokens")
    with open(tokens, "w") as f:
        f.write(TOKEN + " write\n")
    os.chmod(tokens, 0o600)
    conf = os.path.join(work, "tinyfleetd.conf")
    with open(conf, "w") as f:
        f.write("token_file %s\nontology_dir %s/ontology\nsparql_dir %s/sparql\n"
                "log_level warning\n" % (tokens, SRC, SRC))
    port_file = os.path.join(work, "port")
    log = open(os.path.join(work, "daemon.log"), "w")
    proc = subprocess.Popen([tfd, "-c", conf, "-l", "127.0.0.1:0", "-d", state,
                             "--port-file", port_file], stdout=log, stderr=log)
    deadline = time.time() + 60
    while time.time() < deadline:
        if os.path.exists(port_file):
            text = open(port_file).read()
            if text.endswith("\n"):
                return proc, int(text)
        if proc.poll() is not None:
            sys.exit("tinyfleetd exited during start-up; see %s/daemon.log" % work)
        time.sleep(0.01)
    proc.kill()
    sys.exit("tinyfleetd did not start within 60 s")


def multipart(model, meta):
    boundary = "----tinyfleetbench7d1e"
    parts = [
        b"--" + boundary.encode() + b"\r\n"
        b'Content-Disposition: form-data; name="model"; filename="m.tflite"\r\n'
        b"Content-Type: application/octet-stream\r\n\r\n" + model + b"\r\n",
        b"--" + boundary.encode() + b"\r\n"
        b'Content-Disposition: form-data; name="metadata"\r\n'
        b"Content-Type: application/json\r\n\r\n" + meta + b"\r\n",
        b"--" + boundary.encode() + b"--\r\n",
    ]
    return b"".join(parts), "multipart/form-data; boundary=" + boundary


def request(conn, method, path, body=None, ctype=None):
    headers = {"Authorization": "Bearer " + TOKEN}
    if ctype:
        headers["Content-Type"] = ctype
    conn.request(method, path, body=body, headers=headers)
    r = conn.getresponse()
    data = r.read()
    return r.status, data


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--rounds", type=int, default=20)
    ap.add_argument("--tinyfleetd")
    ap.add_argument("--inspect")
    ap.add_argument("--shared", default=os.path.join(SRC, "..", "shared"))
    args = ap.parse_args()
    tfd = find([args.tinyfleetd, os.environ.get("TINYFLEETD"), "./daemon/tinyfleetd",
                os.path.join(SRC, "daemon/tinyfleetd")])
    insp = find([args.inspect, "./daemon/tinyfleet-inspect",
                 os.path.join(SRC, "daemon/tinyfleet-inspect")])
    if not tfd or not insp:
        sys.exit("build first (make): tinyfleetd and tinyfleet-inspect not found")
    mdir = os.path.join(args.shared, "tinyml-kg", "models")
    names = sorted(f[:-7] for f in os.listdir(mdir) if f.endswith(".tflite"))
    models = [(n, open(os.path.join(mdir, n + ".tflite"), "rb").read(),
               open(os.path.join(mdir, n + ".json"), "rb").read()) for n in names]
    total_bytes = sum(len(m[1]) for m in models)
    print("models: %d files, %d bytes in all; %d rounds" % (len(models), total_bytes, args.rounds))

    work = tempfile.mkdtemp(prefix="tinyfleet-bench-models.")
    proc = None
    try:
        # Turtle of each model for the graph-store peer, made once.
        turtles = []
        for n, _, _ in models:
            t = subprocess.run([insp, "--format", "turtle", "--ontology-dir",
                                os.path.join(SRC, "ontology"), "--metadata",
                                os.path.join(mdir, n + ".json"), os.path.join(mdir, n + ".tflite")],
                               check=True, capture_output=True).stdout
            turtles.append(t)

        proc, port = start_daemon(tfd, work)
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        up_time = 0.0
        del_time = 0.0
        gs_time = 0.0
        an_time = 0.0
        for rnd in range(args.rounds):
            ids = []
            t0 = time.perf_counter()
            for n, model, meta in models:
                body, ctype = multipart(model, meta)
                st, data = request(conn, "POST", "/api/v1/models", body, ctype)
                if st != 201:
                    sys.exit("upload %s: HTTP %d %s" % (n, st, data[:300]))
                ids.append(json.loads(data)["id"])
            up_time += time.perf_counter() - t0
            t0 = time.perf_counter()
            for i in ids:
                st, data = request(conn, "DELETE", "/api/v1/models/" + i)
                if st != 204:
                    sys.exit("delete %s: HTTP %d" % (i, st))
            del_time += time.perf_counter() - t0
            # Peer 1: the same triples through the Graph Store protocol (HTTP + durable commit).
            t0 = time.perf_counter()
            for k, t in enumerate(turtles):
                path = "/data?graph=" + urllib.parse.quote("https://bench.example/g/%d" % k, safe="")
                st, data = request(conn, "PUT", path, t, "text/turtle")
                if st not in (201, 204):
                    sys.exit("PUT graph: HTTP %d %s" % (st, data[:300]))
            gs_time += time.perf_counter() - t0
            for k in range(len(turtles)):
                path = "/data?graph=" + urllib.parse.quote("https://bench.example/g/%d" % k, safe="")
                request(conn, "DELETE", path)
            # Peer 2: the analysis alone, offline.
            t0 = time.perf_counter()
            for n, _, _ in models:
                subprocess.run([insp, os.path.join(mdir, n + ".tflite")], check=True,
                               stdout=subprocess.DEVNULL)
            an_time += time.perf_counter() - t0
        n = len(models) * args.rounds
        up = n / up_time
        gs = n / gs_time
        an = n / an_time
        print("upload (POST /api/v1/models, analysis + file + triples, durable): %8.1f models/s"
              "  (%.2f ms each, %.1f MB/s)" % (up, 1000 / up, total_bytes * args.rounds / up_time / 1e6))
        print("delete (DELETE /api/v1/models/ID):                               %8.1f models/s"
              % (n / del_time))
        print("peer: PUT the same triples to /data (HTTP + durable commit):     %8.1f graphs/s" % gs)
        print("peer: tinyfleet-inspect, one process per file (analysis alone):  %8.1f models/s" % an)
        print("ratio upload / graph-store PUT: %.2f" % (up / gs))
        print("ratio upload / offline analysis: %.2f" % (up / an))
        conn.close()
    finally:
        if proc:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                proc.kill()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
