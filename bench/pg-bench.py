#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""What storage postgresql costs against the embedded store, and librdf's own postgresql storage
against both, on the fleet workload (issue 8, "Scale-out on an existing engine").

Starts a throw-away PostgreSQL from Debian's binaries (initdb, pg_ctl: package postgresql) in a
temp directory on 127.0.0.1 and a free port, with its default durability (fsync on, synchronous
commit), and measures for tinyfleetd with storage embedded and storage postgresql:
  bulk     one Graph Store PUT of the generated fleet (N-Triples), triples/s
  single   one-triple Graph Store POSTs, one after the other on a keep-alive connection, commits/s
  lookup   a one-pattern SELECT on a board's RAM (a different board each time; the response
           cache is off so the store answers), queries/s and ms
and, with two daemons on one database: how long a write through one takes to be visible through
the other (median, p99), and the start-up of a daemon that replays the whole journal. Then builds
bench/pg-librdf.c and runs it on librdf's postgresql storage (Debian librdf-storage-postgresql).

usage: python3 bench/pg-bench.py [--tinyfleetd daemon/tinyfleetd] [--boards 10000]
                                 [--single 500] [--lookups 500] [--librdf-boards 1000]
Needs root or a user that may run initdb (as root the server runs as the postgres user).
"""
import argparse
import glob
import http.client
import json
import os
import pwd
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.parse

TOKEN = "bench-write-0123456789abcdef"
NS = "https://tinyfleet.dev/ns#"


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


class Postgres:
    def __init__(self, top):
        bins = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
        if not bins:
            sys.exit("PostgreSQL server binaries not found (apt-get install postgresql)")
        self.bin = os.path.dirname(bins[-1])
        self.dir = tempfile.mkdtemp(prefix="tinyfleet-pgbench.", dir=top)
        self.user = "postgres" if os.geteuid() == 0 else None
        if self.user:
            pw = pwd.getpwnam(self.user)
            os.chown(self.dir, pw.pw_uid, pw.pw_gid)
        self.run(["initdb", "-D", self.dir + "/data", "-U", "postgres", "--auth=trust", "-E",
                  "UTF8"])
        self.port = free_port()
        self.run(["pg_ctl", "-D", self.dir + "/data", "-l", self.dir + "/server.log", "-w", "-t",
                  "60", "-o", "-p %d -k %s -h 127.0.0.1" % (self.port, self.dir), "start"])

    def run(self, argv, as_pg=True):
        argv = [self.bin + "/" + argv[0]] + argv[1:]
        if as_pg and self.user:
            argv = ["runuser", "-u", self.user, "--"] + argv
        subprocess.run(argv, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def createdb(self, name):
        self.run(["createdb", "-h", "127.0.0.1", "-p", str(self.port), "-U", "postgres", name],
                 as_pg=False)
        return "host=127.0.0.1 port=%d dbname=%s user=postgres" % (self.port, name)

    def stop(self):
        try:
            self.run(["pg_ctl", "-D", self.dir + "/data", "-m", "fast", "-w", "stop"])
        finally:
            shutil.rmtree(self.dir, ignore_errors=True)


def fleet_ntriples(path, boards):
    """boards Things with the properties the matching queries read: ~10 triples each."""
    sensors = ["Accelerometer", "Microphone", "Camera", "Thermometer"]
    n = 0
    with open(path, "w") as f:
        for i in range(boards):
            b = "<https://fleet.example/board/%d>" % i
            lines = [
                (b, "<http://www.w3.org/1999/02/22-rdf-syntax-ns#type>",
                 "<https://www.w3.org/2019/wot/td#Thing>"),
                (b, "<https://www.w3.org/2019/wot/td#title>", '"board %d"' % i),
                (b, "<%sramBytes>" % NS, '"%d"' % (65536 * (1 + i % 8))),
                (b, "<%sflashBytes>" % NS, '"%d"' % (262144 * (1 + i % 4))),
                (b, "<%scpu>" % NS, '"cortex-m%d"' % (0 if i % 3 == 0 else 4)),
                (b, "<%sclockHz>" % NS, '"%d"' % (64000000 + 1000 * (i % 97))),
            ]
            for k in range(2):
                s = "<https://fleet.example/board/%d/sensor/%d>" % (i, k)
                lines.append((b, "<http://www.w3.org/ns/sosa/hosts>", s))
                lines.append((s, "<http://www.w3.org/1999/02/22-rdf-syntax-ns#type>",
                              "<http://tinyml-schema.org/sosa_extend/%s>"
                              % sensors[(i + k) % len(sensors)]))
            for s, p, o in lines:
                f.write("%s %s %s .\n" % (s, p, o))
            n += len(lines)
    return n


class Daemon:
    def __init__(self, exe, top, root, name, extra):
        self.dir = os.path.join(root, name)
        os.makedirs(self.dir + "/state")
        with open(self.dir + "/tokens", "w") as f:
            f.write("%s write\n" % TOKEN)
        os.chmod(self.dir + "/tokens", 0o600)
        with open(self.dir + "/conf", "w") as f:
            f.write("token_file %s/tokens\nontology_dir %s/ontology\nsparql_dir %s/sparql\n"
                    "cache_bytes 0\nlog_level notice\n%s" % (self.dir, top, top, extra))
        self.exe = exe
        self.proc = None

    def start(self):
        pf = self.dir + "/port"
        if os.path.exists(pf):
            os.unlink(pf)
        t0 = time.monotonic()
        self.log = open(self.dir + "/log", "a")
        self.proc = subprocess.Popen([self.exe, "-c", self.dir + "/conf", "-l", "127.0.0.1:0",
                                      "-d", self.dir + "/state", "--port-file", pf],
                                     stdout=self.log, stderr=self.log)
        while not os.path.exists(pf):
            if self.proc.poll() is not None:
                sys.exit("tinyfleetd exited; see %s/log" % self.dir)
            time.sleep(0.005)
        self.port = int(open(pf).read())
        self.conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=600)
        return time.monotonic() - t0

    def stop(self):
        self.conn.close()
        self.proc.terminate()
        self.proc.wait(60)
        self.log.close()

    def request(self, method, path, body=None, headers=None):
        self.conn.request(method, path, body=body, headers=headers or {})
        r = self.conn.getresponse()
        data = r.read()
        if r.status // 100 != 2:
            sys.exit("%s %s: HTTP %d %s" % (method, path, r.status, data[:300]))
        return data

    def put_graph(self, graph, data, method="PUT"):
        return self.request(method, "/data?graph=" + urllib.parse.quote(graph, safe=""), data,
                            {"Authorization": "Bearer " + TOKEN,
                             "Content-Type": "application/n-triples"})

    def select(self, q):
        return json.loads(self.request("GET", "/sparql?query=" + urllib.parse.quote(q), None,
                                       {"Accept": "application/sparql-results+json"}))


def lookup_query(i):
    return "SELECT ?o WHERE { <https://fleet.example/board/%d> <%sramBytes> ?o }" % (i, NS)


def measure(daemons, data, triples, args, boards):
    """The same steps on each daemon, interleaved in rounds so that both see the same load of
    this shared machine."""
    out = [{"bulk": 0.0, "single": 0.0, "lookup": 0.0} for _ in daemons]
    for k, d in enumerate(daemons):
        t0 = time.monotonic()
        d.put_graph("https://fleet.example/graph/boards", data)
        out[k]["bulk"] = triples / (time.monotonic() - t0)
    rounds = 5
    for r in range(rounds):
        for k, d in enumerate(daemons):
            t0 = time.monotonic()
            for i in range(r, args.single, rounds):
                d.put_graph("https://fleet.example/graph/single",
                            ("<https://fleet.example/s/%d> <%sseen> \"%d\" .\n"
                             % (i, NS, i)).encode(), "POST")
            out[k]["single"] += time.monotonic() - t0
            t0 = time.monotonic()
            for i in range(r, args.lookups, rounds):
                rows = d.select(lookup_query((i * 7919) % boards))["results"]["bindings"]
                if len(rows) != 1:
                    sys.exit("lookup %d gave %d rows" % (i, len(rows)))
            out[k]["lookup"] += time.monotonic() - t0
    for o in out:
        o["single"] = args.single / o["single"]
        o["lookup_qps"] = args.lookups / o["lookup"]
        o["lookup_ms"] = 1e3 * o["lookup"] / args.lookups
    return out


def main():
    ap = argparse.ArgumentParser()
    here = os.path.dirname(os.path.abspath(__file__))
    top = os.path.dirname(here)
    ap.add_argument("--tinyfleetd", default=os.path.join(top, "daemon/tinyfleetd"))
    ap.add_argument("--boards", type=int, default=10000)
    ap.add_argument("--single", type=int, default=500)
    ap.add_argument("--lookups", type=int, default=500)
    ap.add_argument("--visibility", type=int, default=200)
    ap.add_argument("--librdf-boards", type=int, default=1000)
    ap.add_argument("--skip-librdf", action="store_true")
    args = ap.parse_args()
    tmp = tempfile.gettempdir()
    pg = Postgres(tmp)
    root = tempfile.mkdtemp(prefix="tinyfleet-pgbench-run.", dir=tmp)
    try:
        nt = os.path.join(root, "fleet.nt")
        triples = fleet_ntriples(nt, args.boards)
        data = open(nt, "rb").read()
        print("fleet: %d boards, %d triples, %d bytes of N-Triples" % (args.boards, triples,
                                                                        len(data)))
        d = Daemon(args.tinyfleetd, top, root, "embedded", "")
        d.start()
        conninfo = pg.createdb("bench")
        extra = "storage postgresql\npostgresql %s\n" % conninfo
        a = Daemon(args.tinyfleetd, top, root, "pg-a", extra)
        a.start()
        emb, pgr = measure([d, a], data, triples, args, args.boards)
        results = {"embedded": emb, "postgresql": pgr}
        d.stop()
        b = Daemon(args.tinyfleetd, top, root, "pg-b", extra)
        replay = b.start()
        # Visibility: a write through A, polled through B until it shows.
        lags = []
        for i in range(args.visibility):
            q = "SELECT ?o WHERE { <https://fleet.example/vis/%d> <%sseen> ?o }" % (i, NS)
            a.put_graph("https://fleet.example/graph/vis",
                        ("<https://fleet.example/vis/%d> <%sseen> \"x\" .\n" % (i, NS)).encode(),
                        "POST")
            t0 = time.monotonic()
            while not b.select(q)["results"]["bindings"]:
                if time.monotonic() - t0 > 30:
                    sys.exit("write %d never became visible through the other daemon" % i)
            lags.append(1e3 * (time.monotonic() - t0))
        # Both daemons writing (alternately, one client): the cluster-wide write lock's cost.
        t0 = time.monotonic()
        for i in range(args.single):
            (a if i % 2 else b).put_graph(
                "https://fleet.example/graph/both",
                ("<https://fleet.example/both/%d> <%sseen> \"%d\" .\n" % (i, NS, i)).encode(),
                "POST")
        both = args.single / (time.monotonic() - t0)
        a.stop()
        b.stop()
        lags.sort()

        print()
        print("%-34s %14s %14s" % ("", "embedded", "postgresql"))
        for key, label, fmt in [("bulk", "bulk import, triples/s", "%14.0f"),
                                ("single", "single-triple commits/s", "%14.0f"),
                                ("lookup_qps", "lookup queries/s (1 client)", "%14.0f"),
                                ("lookup_ms", "lookup, ms/query", "%14.2f")]:
            print("%-34s %s %s" % (label, fmt % results["embedded"][key],
                                   fmt % results["postgresql"][key]))
        print("postgresql, 2 daemons: visibility through the other daemon: median %.1f ms, "
              "p99 %.1f ms (%d writes)" % (statistics.median(lags),
                                          lags[int(len(lags) * 0.99) - 1], len(lags)))
        print("postgresql, 2 daemons: start-up replaying the whole journal (%d triples): %.2f s"
              % (triples + args.single, replay))
        print("postgresql, 2 daemons: single-triple commits alternating between them: %.0f/s"
              % both)

        if not args.skip_librdf:
            exe = os.path.join(root, "pg-librdf")
            flags = subprocess.run(["pkg-config", "--cflags", "--libs", "redland"], check=True,
                                   capture_output=True, text=True).stdout.split()
            subprocess.run(["cc", "-O2", "-o", exe, os.path.join(here, "pg-librdf.c")] + flags,
                           check=True)
            small = os.path.join(root, "fleet-small.nt")
            n = fleet_ntriples(small, args.librdf_boards)
            pg.createdb("librdf")
            print()
            print("librdf postgresql storage, %d boards (%d triples):" % (args.librdf_boards, n))
            subprocess.run([exe, "127.0.0.1", str(pg.port), "librdf", "postgres", small,
                            str(min(args.single, 300)), str(min(args.lookups, 200))], check=True)
    finally:
        pg.stop()
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
