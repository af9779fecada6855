#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Matchmaking benchmark: model -> boards and board -> models at fleet scale, against Virtuoso.

Generates a deterministic fleet (default 10,000 boards and 1,000 models, one named graph each) as
N-Quads in exactly the shapes tinyfleetd's matcher reads (sparql/match-*.rq): boards as in
../shared/tinyml-kg/devices/*.ttl (an s3n:SmartSensor whose s3n:MicroController states
s3n_extend:RAM / s3n_extend:Flash as schema:value + schema:unitCode, in om:kilobyte mostly, some
om:kibibyte, om:byte, om:megabyte or no unit; 1-6 sosa_extend: sensor subsystems; ~1% with no
capability data), models in the daemon's own model-graph shape (lib/model_graph.c
fleet_model_txn: arena estimates per profile, fleet:flashBytes, the sensors feeding the input,
the metric, the paper's s3n:ProcedureFeature RAM/Flash minValue kB conditions, layers), their
arena, flash and sensors drawn from the 23 real models of ../shared/tinyml-kg/models, scaled
and jittered.

Then, both on 127.0.0.1:

  * tinyfleetd (port 0, its own state directory; query_timeout from --query-timeout, which also
    bounds each of the matcher's index queries): the N-Quads POSTed to /data?default; the first
    match after the import (the matcher builds its index); then
    GET /api/v1/models/{id}/devices?limit=100 for random models and
    GET /api/v1/things/{board}/models?limit=100 for random boards, R requests one after another
    on one kept-alive connection and R requests from 8 client threads (one connection each):
    p50, p99, mean, req/s; the first match after a small write (PUT /data?graph=...), when the
    matcher rebuilds its index, repeated; and each of the six sparql/match-*.rq templates run
    once through /sparql (where a build's time goes). If the first match fails (an index query
    ran past query_timeout), that is reported and the rest of tinyfleetd's runs are skipped.
  * Virtuoso 7 (apt-get installed when missing, as bench/foundation.sh does; an ini like
    foundation.sh's, bulk loaded with ld_dir + rdf_loader_run): "a plain SPARQL run of the same
    question" for the same random models and boards: one SELECT per request that normalises
    the board's units with IF/BOUND, compares with the model's RAM/Flash minValue kB and
    requires every needed sensor type (see vt_boards_for_model for the form used and why);
    the same client, the same p50/p99/req/s.

Virtuoso's answer is only the fitting set; tinyfleetd's is every pair with its verdict and
reasons (ranked, first 100 returned), so the two are not the same amount of work: the output
says which question each side answered. For a sample of models and boards the fitting sets of
both sides are compared with each other and with the generator's own arithmetic. Each measured
run stops starting requests after --run-budget seconds; the output gives how many completed.

Figures only: nothing here is a pass/fail assertion. Standard library only. Usage:

  bench/match.py [--boards N] [--models M] [--requests R] [--no-virtuoso] [--tinyfleetd PATH]
                 [--keep] [--query-timeout S] [--rebuilds N] [--rebuild-scaling N,N,...]
                 (--help for all)
"""
import argparse
import http.client
import json
import os
import random
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse

HERE = os.path.dirname(os.path.abspath(__file__))
SRC = os.path.dirname(HERE)
TOKEN = "bench-match-0123456789abcdef"

RDF = "http://www.w3.org/1999/02/22-rdf-syntax-ns#"
RDFS = "http://www.w3.org/2000/01/rdf-schema#"
XSD = "http://www.w3.org/2001/XMLSchema#"
S3N = "http://w3id.org/s3n/"
SSN = "http://www.w3.org/ns/ssn/"
SSNS = "http://www.w3.org/ns/ssn/systems/"
SOSA = "http://www.w3.org/ns/sosa/"
SCHEMA = "https://schema.org/"
OM = "http://www.ontology-of-units-of-measure.org/resource/om-2/"
TD = "https://www.w3.org/2019/wot/td#"
NNET = "http://tinyml-schema.org/networkschema#"
S3NX = "http://tinyml-schema.org/s3n_extend/"
SOSAX = "http://tinyml-schema.org/sosa_extend/"
SSNX = "http://tinyml-schema.org/ssn_extend/"
FLEET = "https://tinyfleet.dev/ns#"
MODEL_IRI = "https://tinyfleet.dev/id/model/"
MODEL_GRAPH = "https://tinyfleet.dev/graph/model/"
BOARD_IRI = "https://bench.tinyfleet.dev/board/"
BOARD_GRAPH = "https://bench.tinyfleet.dev/graph/board/"
PROFILE_ILP32 = "tflm-2020-ilp32"   # the daemon's default arena_profile
PROFILE_X86 = "tflm-2020-x86_64"

SENSORS = ["Accelerometer", "Camera", "Gyroscope", "Magnetometer", "Microphone", "Thermometer"]

# The 23 real models: arena bytes (x86-64, ILP32) as tests/unit/check_arena.c has them, the
# .tflite size (the flash need; re-read from ../shared when it is there), category and sensors
# as their metadata JSON gives them.
REAL = [
    ("ARM_CNN_Small_keyword_spotting", 15168, 13376, 76752, "Classification", ["Microphone"]),
    ("ARM_DS_CNN_Small_", 32528, 29648, 47616, "Classification", ["Microphone"]),
    ("ARM_MicroNet_Small_anomaly_detection", 128256, 125936, 252848, "Classification",
     ["Microphone"]),
    ("ARM_MicroNet_VWW_3", 206976, 192768, 542400, "Classification", ["Camera"]),
    ("Anomaly_Detection_Autoencoder", 2816, 1728, 4736, "Unsupervised", ["Accelerometer"]),
    ("Hello_World", 1936, 1168, 2472, "OtherCategory", ["OtherSensor"]),
    ("Magic_Wand_1", 16784, 15680, 19616, "Classification", ["Accelerometer"]),
    ("Magic_Wand_2", 12080, 10816, 31256, "Classification", ["Accelerometer", "Gyroscope"]),
    ("Mapping_Dance", 4848, 4112, 147828, "Classification", ["Accelerometer", "Gyroscope"]),
    ("Micro_Speech_Forward_Backward", 10480, 9520, 18856, "Classification", ["Microphone"]),
    ("Micro_Speech_Up_Down_Go", 8080, 7280, 22712, "Classification", ["Microphone"]),
    ("Micro_Speech_Yes_No_1", 8080, 7280, 18712, "Classification", ["Microphone"]),
    ("Micro_Speech_Yes_No_2", 8800, 7760, 8864, "Classification", ["Microphone"]),
    ("Micro_Speech_Yes_No_3", 10480, 9520, 18856, "Classification", ["Microphone"]),
    ("Micro_Speech_Yes_No_4", 8800, 7760, 8864, "Classification", ["Microphone"]),
    ("Motion_Trainer_Left_Right", 4048, 3008, 18480, "Classification",
     ["Accelerometer", "Gyroscope"]),
    ("Motion_Trainer_Up_Forward", 4048, 3008, 18480, "Classification",
     ["Accelerometer", "Gyroscope"]),
    ("Move", 2848, 1808, 6480, "Classification", ["Accelerometer", "Gyroscope"]),
    ("Person_Detection", 94128, 87760, 236072, "Classification", ["Camera"]),
    ("Snoring_Guardian", 25968, 24096, 219896, "Classification", ["Microphone"]),
    ("Squats_Counter", 2224, 1488, 17048, "Classification", ["Accelerometer", "Gyroscope"]),
    ("Visual_Alarm_Clock", 116480, 109664, 531624, "Classification", ["Camera"]),
    ("Voice_Turn", 6288, 4448, 8048, "Classification", ["Microphone"]),
]
DATASETS = {
    "Microphone": "http://download.tensorflow.org/data/speech_commands_v0.02.tar.gz",
    "Camera": "https://arxiv.org/abs/1906.05721",
    "Accelerometer": "https://experiments.withgoogle.com/tiny-motion-trainer",
    "OtherSensor": "a synthetic sine wave",
}
TASKS = {
    "Microphone": "a NN for spotting keywords in audio",
    "Camera": "a NN for detecting if a person is in the image",
    "Accelerometer": "a NN for classifying gestures from 3d accelerometer data",
    "OtherSensor": "a NN approximating a sine function",
}
LAYER_TYPES = ["Conv2D", "DepthwiseConv2D", "AveragePool2D", "MaxPool2D", "FullyConnected",
               "Reshape", "Softmax", "Quantize"]
# Board memory units: (unit local name or None, share of boards).
UNITS = [("kilobyte", 0.80), ("kibibyte", 0.07), ("byte", 0.05), ("megabyte", 0.03),
         (None, 0.05)]

# ---------------------------------------------------------------------------------- terms


def I(ns, local=""):
    return "<" + ns + local + ">"


def lit(s, lang=None):
    s = s.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
    return '"%s"@%s' % (s, lang) if lang else '"%s"' % s


def typed(v, dt):
    return '"%s"^^<%s%s>' % (v, XSD, dt)


A = I(RDF, "type")


def kb_decimal(nbytes):
    """A byte count in kB as the daemon writes it: exact, three decimals."""
    return typed("%d.%03d" % (nbytes // 1000, nbytes % 1000), "decimal")


# ---------------------------------------------------------------------------------- generator


class Graph:
    def __init__(self, graph):
        self.g = "<" + graph + ">"
        self.lines = []

    def add(self, s, p, o):
        self.lines.append("%s %s %s %s .\n" % (s, p, o, self.g))


def stated(r, kb):
    """How a board states a memory size of about kb kB: (value term, unit IRI or None, bytes
    the matcher reads it as)."""
    x = r.random()
    unit = None
    for u, share in UNITS:
        if x < share:
            unit = u
            break
        x -= share
    else:
        unit = "kilobyte"
    if unit == "kilobyte" or unit is None:
        return typed(kb, "integer"), unit, kb * 1000
    if unit == "kibibyte":
        kib = max(1, round(kb * 1000 / 1024))
        return typed(kib, "integer"), unit, kib * 1024
    if unit == "byte":
        return typed(kb * 1000, "integer"), unit, kb * 1000
    # megabyte, as a decimal with three digits: exact kB
    return typed("%d.%03d" % (kb // 1000, kb % 1000), "decimal"), unit, kb * 1000


def loguniform(r, lo, hi):
    return lo * (hi / lo) ** r.random()


def gen_board(i, r):
    g = Graph(BOARD_GRAPH + "%06d" % i)
    b = I(BOARD_IRI + "%06d" % i)
    bn = "_:b%d" % i
    sensors = sorted(r.sample(SENSORS, r.randint(1, 6)))
    g.add(b, A, I(S3N, "SmartSensor"))
    g.add(b, I(TD, "title"), lit("bench board %06d" % i, "en"))
    g.add(b, I(TD, "description"), lit("A generated TinyML board.", "en"))
    for k, s in enumerate(sensors):
        sub, aff, form = "%ss%d" % (bn, k), "%sa%d" % (bn, k), "%sf%d" % (bn, k)
        g.add(b, I(SSN, "hasSubSystem"), sub)
        g.add(sub, A, I(SOSAX, s))
        g.add(b, I(TD, "hasPropertyAffordance"), aff)
        g.add(aff, I(TD, "title"), lit(s, "en"))
        g.add(aff, I(TD, "hasForm"), form)
        g.add(form, I(TD, "href"), lit("%s%06d/%s" % (BOARD_IRI, i, s.lower())))
        g.add(form, I(TD, "op"), lit("readproperty"))
    mc = bn + "mc"
    g.add(b, I(SSN, "hasSubSystem"), mc)
    g.add(mc, A, I(S3N, "MicroController"))
    ram = flash = None
    if r.random() >= 0.01:  # ~1% of boards state no capability at all
        ram_kb = int(round(loguniform(r, 16, 1024)))
        flash_kb = int(round(loguniform(r, 64, 4096)))
        cap = bn + "cap"
        g.add(mc, I(S3N, "hasSystemCapability"), cap)
        for cls, kb in (("RAM", ram_kb), ("Flash", flash_kb)):
            node = bn + cls.lower()
            value, unit, nbytes = stated(r, kb)
            g.add(cap, I(SSNS, "hasSystemProperty"), node)
            g.add(node, A, I(S3NX, cls))
            g.add(node, I(SCHEMA, "value"), value)
            if unit:
                g.add(node, I(SCHEMA, "unitCode"), I(OM, unit))
            g.add(node, I(RDFS, "comment"), lit(cls + ".", "en"))
            if cls == "RAM":
                ram = nbytes
            else:
                flash = nbytes
    info = {"iri": BOARD_IRI + "%06d" % i, "ram": ram, "flash": flash, "sensors": set(sensors)}
    return g, info


def gen_model(j, r, real):
    name, x86, ilp32, flash0, category, sensors = real[r.randrange(len(real))]
    scale = loguniform(r, 0.4, 4.0)
    arena32 = int(ilp32 * scale * r.uniform(0.85, 1.15)) // 16 * 16 + 16
    arena64 = arena32 + (x86 - ilp32)
    flash = int(flash0 * scale * r.uniform(0.8, 1.25))
    mid = "%016x" % r.getrandbits(64)
    g = Graph(MODEL_GRAPH + mid)
    m = I(MODEL_IRI + mid)
    nn = MODEL_IRI + mid
    g.add(m, A, I(NNET, "NeuralNetwork"))
    g.add(m, I(SCHEMA, "identifier"), lit(mid))
    g.add(m, I(SCHEMA, "name"), lit("%s_v%d" % (name, j)))
    g.add(m, I(SCHEMA, "description"), lit(TASKS.get(sensors[0], TASKS["Microphone"])))
    g.add(m, I(SCHEMA, "creator"), lit("tinyfleet bench"))
    g.add(m, I(SCHEMA, "runtimePlatform"), lit("TFLite Micro"))
    ds = DATASETS.get(sensors[0], DATASETS["Accelerometer"])
    g.add(m, I(NNET, "trainingDataset"), I(ds) if ds.startswith("http") else lit(ds))
    g.add(m, I(NNET, "hasCategory"), I(NNET, category))
    g.add(m, I(NNET, "hasMetric"), I(nn + "/metric"))
    g.add(I(nn + "/metric"), A, I(NNET, "Metric"))
    g.add(I(nn + "/metric"), A, I(NNET, "Top_1_accuracy"))
    g.add(I(nn + "/metric"), I(NNET, "hasMetricValue"),
          typed("%.1f" % r.uniform(60, 99.5), "double"))
    g.add(m, I(NNET, "hasMultiplyAccumulateOps"),
          typed(int(loguniform(r, 1e4, 5e7)), "integer"))
    inp, out = I(nn + "/input"), I(nn + "/output")
    g.add(m, I(SSN, "hasInput"), inp)
    g.add(inp, A, I(NNET, "NetworkInput"))
    g.add(inp, I(FLEET, "shape"), lit("[1,49,10,1]"))
    g.add(inp, I(FLEET, "dtype"), I(NNET, "Int8"))
    g.add(m, I(SSN, "hasOutput"), out)
    g.add(out, A, I(NNET, "NetworkOutput"))
    g.add(out, I(FLEET, "shape"), lit("[1,4]"))
    g.add(out, I(FLEET, "dtype"), I(NNET, "Int8"))
    for k, s in enumerate(sensors):
        node = I(nn + "/sensor/%d" % k)
        g.add(node, A, I(SOSA, "Sensor"))
        g.add(node, A, I(SOSAX, s))
        g.add(node, I(SSNX, "provideInput"), inp)
        g.add(node, I(SOSAX, "hasSensorInfo"), lit("N.A."))
    nl = r.randint(4, 16)
    for k in range(nl):
        node = I(nn + "/layer/%d" % k)
        rel = "inputLayer" if k == 0 else "outputLayer" if k == nl - 1 else "middleLayer"
        lt = r.choice(LAYER_TYPES)
        g.add(m, I(NNET, rel), node)
        g.add(node, A, I(NNET, "Layer"))
        g.add(node, I(NNET, "hasIndex"), typed(k, "integer"))
        g.add(node, I(NNET, "hasType"), I(NNET, lt))
        g.add(node, I(RDFS, "label"), lit(lt))
        g.add(node, I(NNET, "hasQuantization"), I(NNET, "Int8"))
        g.add(node, I(FLEET, "macs"), typed(r.randrange(1000, 2000000), "integer"))
    for prof, nbytes in ((PROFILE_ILP32, arena32), (PROFILE_X86, arena64)):
        node = I(nn + "/arena/" + prof)
        g.add(m, I(FLEET, "arenaBytes"), node)
        g.add(node, A, I(FLEET, "ArenaEstimate"))
        g.add(node, I(FLEET, "profile"), lit(prof))
        g.add(node, I(FLEET, "bytes"), typed(nbytes, "integer"))
    for what, cls, nbytes in (("ram", "RAM", arena32), ("flash", "Flash", flash)):
        node, cond = I(nn + "/requirement/" + what), I(nn + "/requirement/%s/condition" % what)
        g.add(m, I(S3N, "hasProcedureFeature"), node)
        g.add(node, A, I(S3N, "ProcedureFeature"))
        g.add(node, I(SSNS, "inCondition"), cond)
        g.add(cond, A, I(S3NX, cls))
        g.add(cond, I(SCHEMA, "minValue"), kb_decimal(nbytes))
        g.add(cond, I(SCHEMA, "unitCode"), I(OM, "kilobyte"))
    g.add(m, I(FLEET, "flashBytes"), typed(flash, "integer"))
    g.add(m, I(FLEET, "sha256"), lit("%064x" % r.getrandbits(256)))
    g.add(m, I(FLEET, "ramProfile"), lit(PROFILE_ILP32))
    info = {"id": mid, "ram": arena32, "flash": flash,
            "sensors": set(s for s in sensors if s != "OtherSensor")}
    return g, info


def real_models(shared):
    """REAL, with flash re-read from the .tflite files when they are at hand."""
    mdir = os.path.join(shared, "tinyml-kg", "models")
    out = []
    for name, x86, ilp32, flash, cat, sensors in REAL:
        p = os.path.join(mdir, name + ".tflite")
        if os.path.exists(p):
            flash = os.path.getsize(p)
        out.append((name, x86, ilp32, flash, cat, sensors))
    return out


def generate(nboards, nmodels, seed, outdir, shared, chunk=60000):
    """Writes N-Quads files of about chunk quads to outdir; returns (boards, models, files,
    quads)."""
    os.makedirs(outdir)
    real = real_models(shared)
    rb = random.Random(seed * 7919 + 1)
    rm = random.Random(seed * 7919 + 2)
    graphs = []
    boards, models = [], []
    for i in range(nboards):
        g, info = gen_board(i, rb)
        graphs.append(g)
        boards.append(info)
    seen = set()
    for j in range(nmodels):
        g, info = gen_model(j, rm, real)
        while info["id"] in seen:  # 64-bit ids: never in practice, but ids must be unique
            g, info = gen_model(j, rm, real)
        seen.add(info["id"])
        graphs.append(g)
        models.append(info)
    # Interleave boards and models over the files, as a fleet that grew over time would be.
    order = list(range(len(graphs)))
    random.Random(seed * 7919 + 3).shuffle(order)
    files, cur, n, quads = [], [], 0, 0
    for k in order:
        cur.extend(graphs[k].lines)
        n += len(graphs[k].lines)
        if n >= chunk:
            files.append(cur)
            quads += n
            cur, n = [], 0
    if cur:
        files.append(cur)
        quads += n
    paths = []
    for k, lines in enumerate(files):
        p = os.path.join(outdir, "part-%03d.nq" % k)
        with open(p, "w") as f:
            f.writelines(lines)
        paths.append(p)
    return boards, models, paths, quads


def fits(model, board):
    """The generator's own verdict, with the matcher's rules (lib/match.h)."""
    if board["ram"] is None or board["flash"] is None:
        return False
    return (model["ram"] <= board["ram"] and model["flash"] <= board["flash"] and
            model["sensors"] <= board["sensors"])


# ---------------------------------------------------------------------------------- HTTP client


class Client:
    """One kept-alive connection; reconnects (and counts it) when the server closed it."""

    def __init__(self, port, timeout=120):
        self.port = port
        self.timeout = timeout
        self.conn = None
        self.reconnects = 0

    def request(self, method, path, body=None, headers=None):
        for attempt in (0, 1):
            if self.conn is None:
                self.conn = http.client.HTTPConnection("127.0.0.1", self.port,
                                                       timeout=self.timeout)
            try:
                self.conn.request(method, path, body=body, headers=headers or {})
                r = self.conn.getresponse()
                data = r.read()
                if r.getheader("Connection", "").lower() == "close":
                    self.conn.close()
                    self.conn = None
                return r.status, data
            except (http.client.RemoteDisconnected, http.client.CannotSendRequest,
                    BrokenPipeError, ConnectionResetError):
                self.conn.close()
                self.conn = None
                if attempt:
                    raise
                self.reconnects += 1
        raise RuntimeError("unreachable")

    def close(self):
        if self.conn:
            self.conn.close()
            self.conn = None


def pct(xs, p):
    """The p-th percentile (nearest rank) of xs."""
    s = sorted(xs)
    if not s:
        return float("nan")
    k = max(0, min(len(s) - 1, int(round(p / 100.0 * len(s) + 0.5)) - 1))
    return s[k]


def run_load(port, paths, headers, threads, check, budget):
    """GETs the paths (split round-robin over threads, one connection each) until all are done
    or budget seconds have passed (a thread starts no request after that); returns a dict of
    latencies (ms), wall time, errors."""
    lat = [[] for _ in range(threads)]
    errors = [0] * threads
    reconnects = [0] * threads
    first_err = []
    barrier = threading.Barrier(threads + 1)

    def work(t):
        c = Client(port)
        mine = paths[t::threads]
        barrier.wait()
        deadline = time.perf_counter() + budget
        for p in mine:
            if time.perf_counter() > deadline:
                break
            t0 = time.perf_counter()
            try:
                st, data = c.request("GET", p, headers=headers)
            except (OSError, http.client.HTTPException) as e:
                st, data = 0, str(e).encode()
            lat[t].append((time.perf_counter() - t0) * 1000)
            if st != 200 or (check and not check(data)):
                errors[t] += 1
                if not first_err:
                    first_err.append("HTTP %d %s" % (st, data[:300]))
        reconnects[t] = c.reconnects
        c.close()

    ths = [threading.Thread(target=work, args=(t,), daemon=True) for t in range(threads)]
    for th in ths:
        th.start()
    barrier.wait()
    t0 = time.perf_counter()
    for th in ths:
        th.join(3600)
    wall = time.perf_counter() - t0
    alll = [x for l in lat for x in l]
    return {"n": len(alll), "of": len(paths), "wall": wall, "p50": pct(alll, 50), "p99": pct(alll, 99),
            "mean": statistics.mean(alll) if alll else float("nan"),
            "rps": len(alll) / wall if wall > 0 else float("nan"), "errors": sum(errors),
            "reconnects": sum(reconnects), "first_error": first_err[0] if first_err else ""}


# ---------------------------------------------------------------------------------- processes


def loadavg():
    with open("/proc/loadavg") as f:
        return " ".join(f.read().split()[:3])


def log(msg):
    sys.stderr.write("[%s] %s\n" % (time.strftime("%H:%M:%S"), msg))
    sys.stderr.flush()


def stop(proc, name, grace=30):
    """SIGTERM, then SIGKILL after grace seconds."""
    if proc is None or proc.poll() is not None:
        return
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(grace)
    except subprocess.TimeoutExpired:
        log("%s did not stop in %d s: SIGKILL" % (name, grace))
        proc.kill()
        proc.wait(30)


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


def rss_mb(pid):
    try:
        with open("/proc/%d/status" % pid) as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024.0
    except OSError:
        pass
    return float("nan")


def start_tinyfleetd(tfd, work, query_timeout=60):
    state = os.path.join(work, "state")
    os.makedirs(state)
    tokens = os.path.join(work, "tokens")
    with open(tokens, "w") as f:
        f.write(TOKEN + " read write\n")
    os.chmod(tokens, 0o600)
    conf = os.path.join(work, "tinyfleetd.conf")
    # query_timeout also bounds each of the matcher's six index queries (the default is 10 s).
    with open(conf, "w") as f:
        f.write("token_file %s\nontology_dir %s/ontology\nsparql_dir %s/sparql\n"
                "log_level warning\nsnapshot_journal_bytes 64G\nmax_body_bytes 1G\n"
                "query_timeout %d\n" % (tokens, SRC, SRC, query_timeout))
    port_file = os.path.join(work, "port")
    logf = open(os.path.join(work, "daemon.log"), "w")
    proc = subprocess.Popen([tfd, "-c", conf, "-l", "127.0.0.1:0", "-d", state,
                             "--port-file", port_file], stdout=logf, stderr=logf)
    logf.close()
    deadline = time.time() + 60
    while time.time() < deadline:
        if os.path.exists(port_file):
            text = open(port_file).read()
            if text.endswith("\n"):
                return proc, int(text)
        if proc.poll() is not None:
            raise SystemExit("tinyfleetd exited during start-up; see %s/daemon.log" % work)
        time.sleep(0.01)
    stop(proc, "tinyfleetd")
    raise SystemExit("tinyfleetd did not start within 60 s")


VT_INI = """[Database]
DatabaseFile = {db}/virtuoso.db
ErrorLogFile = {db}/virtuoso.log
LockFile = {db}/virtuoso.lck
TransactionFile = {db}/virtuoso.trx
xa_persistent_file = {db}/virtuoso.pxa
ErrorLogLevel = 7
FileExtend = 200
MaxCheckpointRemap = 2000
Striping = 0
TempStorage = TempDatabase

[TempDatabase]
DatabaseFile = {db}/virtuoso-temp.db
TransactionFile = {db}/virtuoso-temp.trx
MaxCheckpointRemap = 2000
Striping = 0

[Parameters]
ServerPort = 127.0.0.1:{sql}
LiteMode = 0
DisableUnixSocket = 1
DisableTcpSocket = 0
MaxClientConnections = 20
CheckpointInterval = 60
O_DIRECT = 0
CaseMode = 2
MaxStaticCursorRows = 5000
CheckpointAuditTrail = 0
AllowOSCalls = 0
SchedulerInterval = 10
StopCompilerWhenXOverRunTime = 1
DirsAllowed = ., {data}
ThreadCleanupInterval = 0
ThreadThreshold = 10
ResourcesCleanupInterval = 0
FreeTextBatchSize = 100000
SingleCPU = 0
PrefixResultNames = 0
RdfFreeTextRulesSize = 100
IndexTreeMaps = 64
MaxMemPoolSize = 200000000
MaxQueryMem = 2G
VectorSize = 1000
MaxVectorSize = 1000000
AdjustVectorSize = 0
ThreadsPerQuery = 2
AsyncQueueMaxThreads = 10
NumberOfBuffers = 170000
MaxDirtyBuffers = 130000

[HTTPServer]
ServerPort = 127.0.0.1:{http}
ServerRoot = {vsp}
MaxClientConnections = 20
DavRoot = DAV
EnabledDavVSP = 0
HTTPProxyEnabled = 0
TempASPXDir = 0
ServerThreads = 20
MaxKeepAlives = 20
KeepAliveTimeout = 10
MaxCachedProxyConnections = 10
ProxyConnectionCacheTimeout = 15
HTTPThreadSize = 280000
HttpPrintWarningsInOutput = 0
Charset = UTF-8
EnabledGzipContent = 0

[Client]
SQL_PREFETCH_ROWS = 100
SQL_PREFETCH_BYTES = 16000
SQL_QUERY_TIMEOUT = 0
SQL_TXN_TIMEOUT = 0

[SPARQL]
ResultSetMaxRows = 100000
MaxQueryCostEstimationTime = 400
MaxQueryExecutionTime = 60
DeferInferenceRulesInit = 0
"""


def ensure_virtuoso():
    """apt-get installs virtuoso-opensource-7-bin when virtuoso-t or isql-vt is missing (only
    the -bin package: the full one starts a system service on every interface)."""
    if shutil.which("virtuoso-t") and shutil.which("isql-vt"):
        return
    if os.geteuid() != 0:
        raise SystemExit("virtuoso-t is missing and installing it needs root (or --no-virtuoso)")
    log("installing virtuoso-opensource-7-bin with apt-get")
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    subprocess.run(["apt-get", "update", "-q"], check=True, stdout=subprocess.DEVNULL,
                   env=env, timeout=900)
    subprocess.run(["apt-get", "install", "-y", "-q", "--no-install-recommends",
                    "virtuoso-opensource-7-bin"], check=True, stdout=subprocess.DEVNULL,
                   env=env, timeout=1800)


class Virtuoso:
    def __init__(self, work, datadir):
        self.dir = os.path.join(work, "virtuoso")
        self.db = os.path.join(self.dir, "db")
        os.makedirs(self.db)
        os.makedirs(os.path.join(self.dir, "vsp"))
        self.sql = free_port()
        self.http = free_port()
        while self.http == self.sql:
            self.http = free_port()
        self.ini = os.path.join(self.dir, "virtuoso.ini")
        with open(self.ini, "w") as f:
            f.write(VT_INI.format(db=self.db, sql=self.sql, http=self.http, data=datadir,
                                  vsp=os.path.join(self.dir, "vsp")))
        self.proc = None

    def start(self):
        out = open(os.path.join(self.dir, "stdout.log"), "a")
        self.proc = subprocess.Popen(["virtuoso-t", "-f", "+configfile", self.ini],
                                     cwd=self.db, stdout=out, stderr=out)
        out.close()
        deadline = time.time() + 300
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise SystemExit("virtuoso-t exited; see %s/virtuoso.log" % self.db)
            try:
                r = subprocess.run(["isql-vt", "127.0.0.1:%d" % self.sql, "dba", "dba",
                                    "exec=select 1;"], capture_output=True, text=True, timeout=5)
                if r.returncode == 0 and any(l.strip() == "1" for l in r.stdout.splitlines()):
                    return
            except subprocess.TimeoutExpired:
                pass
            time.sleep(0.1)
        raise SystemExit("virtuoso-t did not answer isql within 300 s")

    def isql(self, sql, timeout=900):
        r = subprocess.run(["isql-vt", "127.0.0.1:%d" % self.sql, "dba", "dba", "exec=" + sql],
                           capture_output=True, text=True, timeout=timeout)
        return r.stdout + r.stderr

    def scalar(self, sql):
        """The first result line of sql that is a whole number, or -1."""
        for line in self.isql(sql).splitlines():
            if line.strip().isdigit():
                return int(line.strip())
        return -1

    def quads(self):
        return self.scalar("select count(*) from DB.DBA.RDF_QUAD;")

    def version(self):
        try:
            r = subprocess.run(["virtuoso-t", "-?"], capture_output=True, text=True, timeout=10)
            for line in (r.stdout + r.stderr).splitlines():
                if line.startswith("Version"):
                    return line.split()[1]
        except (OSError, subprocess.TimeoutExpired):
            pass
        return "?"

    def stop(self):
        if self.proc is None or self.proc.poll() is not None:
            return
        try:
            r = subprocess.run(["isql-vt", "127.0.0.1:%d" % self.sql, "dba", "dba",
                                "exec=shutdown;"], capture_output=True, timeout=60)
            self.proc.wait(120 if r.returncode == 0 else 1)
        except subprocess.TimeoutExpired:
            stop(self.proc, "virtuoso-t")


# ---------------------------------------------------------------------------------- queries

PREFIXES = """PREFIX rdf: <http://www.w3.org/1999/02/22-rdf-syntax-ns#>
PREFIX schema: <https://schema.org/>
PREFIX nnet: <http://tinyml-schema.org/networkschema#>
PREFIX ssn: <http://www.w3.org/ns/ssn/>
PREFIX sosa: <http://www.w3.org/ns/sosa/>
PREFIX ssn-system: <http://www.w3.org/ns/ssn/systems/>
PREFIX s3n: <http://w3id.org/s3n/>
PREFIX s3n_extend: <http://tinyml-schema.org/s3n_extend/>
PREFIX sosa_extend: <http://tinyml-schema.org/sosa_extend/>
PREFIX ssn_extend: <http://tinyml-schema.org/ssn_extend/>
PREFIX om: <http://www.ontology-of-units-of-measure.org/resource/om-2/>
"""


def kb_of(v, u):
    """A SPARQL expression: the board's stated value ?v in unit ?u, in kB (no unit: kB, as the
    paper reads it; an unknown unit: 0, fits nothing)."""
    return ("(?{v} * IF(!BOUND(?{u}), 1, IF(?{u} = om:kilobyte, 1, IF(?{u} = om:kibibyte, 1.024, "
            "IF(?{u} = om:byte, 0.001, IF(?{u} = om:megabyte, 1000, "
            "IF(?{u} = om:mebibyte, 1048.576, 0)))))))").format(v=v, u=u)


BOARD_MEMORY = """?mcu s3n:hasSystemCapability ?cap .
  ?cap ssn-system:hasSystemProperty ?ramP .
  ?ramP a s3n_extend:RAM ; schema:value ?ramV .
  OPTIONAL { ?ramP schema:unitCode ?ramU }
  ?cap ssn-system:hasSystemProperty ?flashP .
  ?flashP a s3n_extend:Flash ; schema:value ?flashV .
  OPTIONAL { ?flashP schema:unitCode ?flashU }"""

MODEL_NEEDS = """{m} s3n:hasProcedureFeature ?ramF .
  ?ramF ssn-system:inCondition ?ramC .
  ?ramC a s3n_extend:RAM ; schema:minValue ?needRam .
  {m} s3n:hasProcedureFeature ?flashF .
  ?flashF ssn-system:inCondition ?flashC .
  ?flashC a s3n_extend:Flash ; schema:minValue ?needFlash ."""

NEEDED = """{m} ssn:hasInput ?in .
    ?sensor ssn_extend:provideInput ?in ; a ?t .
    FILTER (?t != sosa:Sensor && ?t != sosa_extend:OtherSensor)"""

# Model -> boards is the intersection of two subqueries: the boards whose memory fits, and the
# boards with as many distinct needed sensor types as the model needs (or every board, for a
# model that needs none). Board -> models first reads the board's kB and its sensor types in
# small subqueries, then checks every model against them. These are the fastest correct forms
# found for Virtuoso 7.2.5 (bench/README.md): a doubly negated FILTER NOT EXISTS took 30-40 s
# per model at 1,000 boards, an OPTIONAL + GROUP BY ... HAVING over every board about 0.9 s,
# the aggregate in the same group as the memory join returned wrong sets, and at 10,000 boards
# the intersection form of board -> models took 14-44 s (the planner scanned every subsystem of
# each needed type, for each model, instead of the board's own few).


def vt_boards_for_model(mid):
    m = "<%s%s>" % (MODEL_IRI, mid)
    memory = ("SELECT DISTINCT ?board WHERE {\n    " + MODEL_NEEDS.format(m=m) +
              "\n    ?board a s3n:SmartSensor ; ssn:hasSubSystem ?mcu .\n    " + BOARD_MEMORY +
              "\n    FILTER (" + kb_of("ramV", "ramU") + " >= ?needRam)\n    FILTER (" +
              kb_of("flashV", "flashU") + " >= ?needFlash)\n  }")
    sensors = ("{ SELECT (COUNT(DISTINCT ?t) AS ?need) WHERE { " + NEEDED.format(m=m) +
               " } }\n    { SELECT ?board (COUNT(DISTINCT ?t) AS ?have) WHERE {\n      " +
               NEEDED.format(m=m) + "\n      ?board ssn:hasSubSystem ?sub . ?sub a ?t }"
               " GROUP BY ?board }\n    FILTER (?have = ?need)\n  } UNION {\n"
               "    ?board a s3n:SmartSensor .\n    FILTER NOT EXISTS { " + NEEDED.format(m=m) +
               " }")
    return (PREFIXES + "SELECT ?board WHERE {\n  { " + memory + " }\n  {\n  { " + sensors +
            " }\n  }\n}")


def vt_models_for_board(biri):
    b = "<%s>" % biri
    board_kb = ("{ SELECT ?ramKb ?flashKb WHERE {\n    " + b + " ssn:hasSubSystem ?mcu .\n    " +
                BOARD_MEMORY + "\n    BIND (" + kb_of("ramV", "ramU") + " AS ?ramKb)\n    BIND (" +
                kb_of("flashV", "flashU") + " AS ?flashKb)\n  } }")
    board_types = "{ SELECT DISTINCT ?t WHERE { " + b + " ssn:hasSubSystem ?sub . ?sub a ?t } }"
    sensors = ("{ SELECT ?model (COUNT(DISTINCT ?t) AS ?need) WHERE {\n      " +
               NEEDED.format(m="?model") + " } GROUP BY ?model }\n"
               "    { SELECT ?model (COUNT(DISTINCT ?t) AS ?have) WHERE {\n      " + board_types +
               "\n      " + NEEDED.format(m="?model") + " } GROUP BY ?model }\n"
               "    FILTER (?have = ?need)\n  } UNION {\n"
               "    ?model a nnet:NeuralNetwork .\n    FILTER NOT EXISTS { " +
               NEEDED.format(m="?model") + " }")
    return (PREFIXES + "SELECT DISTINCT ?id WHERE {\n  " + board_kb + "\n  {\n  { " + sensors +
            " }\n  }\n  ?model schema:identifier ?id .\n  " + MODEL_NEEDS.format(m="?model") +
            "\n  FILTER (?ramKb >= ?needRam && ?flashKb >= ?needFlash)\n}")


def sparql_path(q):
    return "/sparql?query=" + urllib.parse.quote(q, safe="")


SPARQL_JSON = {"Accept": "application/sparql-results+json"}


def bindings(data, var):
    return [b[var]["value"] for b in json.loads(data)["results"]["bindings"] if var in b]


def is_json(data):
    try:
        json.loads(data)
        return True
    except ValueError:
        return False


# ---------------------------------------------------------------------------------- main

TEMPLATES = ("match-boards", "match-board-memory", "match-board-sensors", "match-models",
             "match-model-arena", "match-model-sensors")
AUTH = {"Authorization": "Bearer " + TOKEN}


def fmt(x, nd=1):
    if x is None or x != x:
        return "-"
    return ("%." + str(nd) + "f") % x


def tf_model_path(mid, query="limit=100"):
    return "/api/v1/models/%s/devices?%s" % (mid, query)


def tf_board_path(iri, query="limit=100"):
    return "/api/v1/things/%s/models?%s" % (urllib.parse.quote(iri, safe=""), query)


def tf_import(c, files):
    """POSTs every N-Quads file to /data?default; returns seconds."""
    t0 = time.perf_counter()
    for f in files:
        with open(f, "rb") as fh:
            body = fh.read()
        st, data = c.request("POST", "/data?default", body,
                             dict(AUTH, **{"Content-Type": "application/n-quads"}))
        if st // 100 != 2:
            raise SystemExit("POST %s: HTTP %d %s" % (f, st, data[:300]))
    return time.perf_counter() - t0


def tf_triples(c):
    st, data = c.request("GET", "/healthz")
    return json.loads(data).get("triples", 0) if st == 200 else -1


def tf_templates(c):
    """Each of the matcher's six index queries once through /sparql: [(name, ms, rows)]."""
    out = []
    for name in TEMPLATES:
        with open(os.path.join(SRC, "sparql", name + ".rq")) as fh:
            q = fh.read()
        t0 = time.perf_counter()
        st, data = c.request("GET", sparql_path(q), headers=SPARQL_JSON)
        ms = (time.perf_counter() - t0) * 1000
        if st == 200:
            rows = str(len(json.loads(data)["results"]["bindings"]))
        else:
            try:
                rows = "HTTP %d %s" % (st, json.loads(data).get("type", "").rsplit("/", 1)[-1])
            except ValueError:
                rows = "HTTP %d" % st
        out.append((name, ms, rows))
        log("tinyfleetd /sparql %s: %.0f ms, %s rows" % (name, ms, rows))
    return out


def problem(st, data):
    try:
        d = json.loads(data)
        return "HTTP %d %s: %s" % (st, d.get("type", "").rsplit("/", 1)[-1], d.get("detail", ""))
    except ValueError:
        return "HTTP %d %s" % (st, data[:200])


def bench_tinyfleetd(args, tfd, work, files, seq, samp_m, samp_b, models, boards, R):
    """Everything measured on tinyfleetd, into R. Returns (sets of sampled models, boards)."""
    tfwork = os.path.join(work, "tinyfleetd")
    os.makedirs(tfwork)
    log("tinyfleetd: %s (query_timeout %d s)" % (tfd, args.query_timeout))
    proc, port = start_tinyfleetd(tfd, tfwork, args.query_timeout)
    R["tf_pid"] = proc.pid
    sets_m, sets_b = {}, {}
    try:
        c = Client(port, timeout=args.query_timeout + 120)
        base = tf_triples(c)
        log("tinyfleetd on 127.0.0.1:%d, %d triples before the import; importing" % (port, base))
        R["tf_load_s"] = tf_import(c, files)
        R["tf_loaded"] = tf_triples(c) - base
        log("tinyfleetd: %d triples in %.2f s" % (R["tf_loaded"], R["tf_load_s"]))

        # First match after the import: the matcher builds its index (six SELECTs).
        t0 = time.perf_counter()
        st, data = c.request("GET", tf_model_path(seq["first"][0]))
        R["tf_first_ms"] = (time.perf_counter() - t0) * 1000
        if st != 200:
            R["tf_failed"] = problem(st, data)
            log("tinyfleetd: the first match failed after %.0f ms: %s" % (R["tf_first_ms"],
                                                                         R["tf_failed"]))
        else:
            d = json.loads(data)
            R["tf_total_boards"] = d.get("total")
            R["tf_resp_bytes_m"] = len(data)
            log("tinyfleetd: first match (index build) %.0f ms; %s boards judged, %d bytes" %
                (R["tf_first_ms"], R["tf_total_boards"], len(data)))
            st, data = c.request("GET", tf_board_path(seq["first"][1]))
            if st != 200:
                raise SystemExit("board match: " + problem(st, data))
            R["tf_resp_bytes_b"] = len(data)
            R["tf_total_models"] = json.loads(data).get("total")
        R["tf_rss_first"] = rss_mb(proc.pid)

        if "tf_failed" not in R:
            for mid, biri in zip(*seq["warm"]):
                c.request("GET", tf_model_path(mid))
                c.request("GET", tf_board_path(biri))
            for run, th, mids, biris in seq["runs"]:
                for label, paths in (("m2b", [tf_model_path(m) for m in mids]),
                                     ("b2m", [tf_board_path(b) for b in biris])):
                    res = run_load(port, paths, {}, th, None, args.run_budget)
                    R["tf_%s_%s" % (label, run)] = res
                    log("tinyfleetd %s %s: %d requests, p50 %.2f ms, p99 %.2f ms, %.1f req/s, "
                        "%d errors %s" % (label, run, res["n"], res["p50"], res["p99"],
                                          res["rps"], res["errors"], res["first_error"]))

            # First match after a write: a small PUT moves the store's generation, so the next
            # match rebuilds the whole index.
            R["tf_rebuild"], R["tf_put"], R["tf_after"] = [], [], []
            for k in range(args.rebuilds):
                ttl = ("<https://bench.tinyfleet.dev/scratch> "
                       "<https://bench.tinyfleet.dev/ns#round> %d .\n" % k).encode()
                t0 = time.perf_counter()
                st, data = c.request("PUT", "/data?graph=" + urllib.parse.quote(
                    "https://bench.tinyfleet.dev/graph/scratch", safe=""), ttl,
                    dict(AUTH, **{"Content-Type": "text/turtle"}))
                R["tf_put"].append((time.perf_counter() - t0) * 1000)
                if st not in (201, 204):
                    raise SystemExit("PUT scratch graph: " + problem(st, data))
                mids, biris = seq["warm"]
                path = (tf_model_path(mids[k % len(mids)]) if k % 2 == 0
                        else tf_board_path(biris[k % len(biris)]))
                t0 = time.perf_counter()
                st, data = c.request("GET", path)
                R["tf_rebuild"].append((time.perf_counter() - t0) * 1000)
                t0 = time.perf_counter()
                c.request("GET", path)
                R["tf_after"].append((time.perf_counter() - t0) * 1000)
                log("tinyfleetd: write %d: PUT %.1f ms, next match %.0f ms (HTTP %d), the one "
                    "after %.1f ms" % (k, R["tf_put"][-1], R["tf_rebuild"][-1], st,
                                       R["tf_after"][-1]))

            for k in samp_m:
                st, data = c.request("GET", tf_model_path(models[k]["id"],
                                                          "fits=true&limit=10000"))
                if st == 200:
                    sets_m[k] = set(it["device"] for it in json.loads(data)["items"])
            for k in samp_b:
                st, data = c.request("GET", tf_board_path(boards[k]["iri"],
                                                          "fits=true&limit=10000"))
                if st == 200:
                    sets_b[k] = set(it["model"] for it in json.loads(data)["items"])
        if args.templates:
            R["templates"] = tf_templates(c)
        c.close()
        R["tf_rss"] = rss_mb(proc.pid)
    finally:
        stop(proc, "tinyfleetd")
    with open(os.path.join(tfwork, "daemon.log"), errors="replace") as fh:
        dlog = fh.read().splitlines()
    R["tf_log_err"] = sum(1 for l in dlog if l[:3] in ("<0>", "<1>", "<2>", "<3>"))
    R["tf_log_warn"] = sum(1 for l in dlog if l.startswith("<4>"))
    R["tf_log_first"] = next((l for l in dlog if l[:3] in ("<0>", "<1>", "<2>", "<3>", "<4>")),
                             "")
    return sets_m, sets_b


def bench_virtuoso(args, work, datadir, seq, samp_m, samp_b, models, boards, R):
    """Everything measured on Virtuoso, into R. Returns (sets of sampled models, boards)."""
    vt = Virtuoso(work, datadir)
    sets_m, sets_b = {}, {}
    R["vt_version"] = vt.version()
    dpkg = subprocess.run(["dpkg-query", "-W", "-f", "${Version}", "virtuoso-opensource-7-bin"],
                          capture_output=True, text=True)
    if dpkg.returncode == 0:
        R["vt_version"] += " (%s)" % dpkg.stdout.strip()
    log("virtuoso %s on 127.0.0.1:%d (SQL), :%d (HTTP)" % (R["vt_version"], vt.sql, vt.http))
    try:
        vt.start()
        base = vt.quads()
        t0 = time.perf_counter()
        vt.isql("ld_dir('%s', '*.nq', 'https://bench.tinyfleet.dev/graph/default');" % datadir)
        # One loader: two concurrent rdf_loader_run() calls hit "Transaction deadlock" on these
        # files (blank-node-heavy boards); files that fail anyway are reset and loaded again.
        failed = "select count(*) from DB.DBA.LOAD_LIST where ll_error is not null;"
        R["vt_load_retries"] = 0
        for attempt in range(4):
            vt.isql("rdf_loader_run();", timeout=1800)
            nfail = vt.scalar(failed)
            if nfail <= 0 or attempt == 3:
                break
            R["vt_load_retries"] += nfail
            log("virtuoso: %d files failed to load, loading them again" % nfail)
            vt.isql("update DB.DBA.LOAD_LIST set ll_state = 0, ll_error = null "
                    "where ll_error is not null;")
        vt.isql("checkpoint;")
        R["vt_load_s"] = time.perf_counter() - t0
        R["vt_loaded"] = vt.quads() - base
        errs = vt.isql("select ll_file, ll_error from DB.DBA.LOAD_LIST "
                       "where ll_error is not null;")
        if ".nq" in errs:
            log("virtuoso load errors: %s" % errs[:1000])
        log("virtuoso: %d quads in %.2f s" % (R["vt_loaded"], R["vt_load_s"]))

        vc = Client(vt.http)
        q = vt_boards_for_model(seq["first"][0])
        t0 = time.perf_counter()
        st, data = vc.request("GET", sparql_path(q), headers=SPARQL_JSON)
        R["vt_first_ms"] = (time.perf_counter() - t0) * 1000
        if st != 200:
            raise SystemExit("virtuoso model->boards: HTTP %d %s\n%s" % (st, data[:1500], q))
        q = vt_models_for_board(seq["first"][1])
        st, data = vc.request("GET", sparql_path(q), headers=SPARQL_JSON)
        if st != 200:
            raise SystemExit("virtuoso board->models: HTTP %d %s\n%s" % (st, data[:1500], q))
        log("virtuoso: first model->boards query %.0f ms" % R["vt_first_ms"])
        for mid, biri in zip(*seq["warm"]):
            vc.request("GET", sparql_path(vt_boards_for_model(mid)), headers=SPARQL_JSON)
            vc.request("GET", sparql_path(vt_models_for_board(biri)), headers=SPARQL_JSON)
        for run, th, mids, biris in seq["runs"]:
            for label, paths in (("m2b", [sparql_path(vt_boards_for_model(m)) for m in mids]),
                                 ("b2m", [sparql_path(vt_models_for_board(b)) for b in biris])):
                res = run_load(vt.http, paths, SPARQL_JSON, th, is_json, args.run_budget)
                R["vt_%s_%s" % (label, run)] = res
                log("virtuoso %s %s: %d requests, p50 %.2f ms, p99 %.2f ms, %.1f req/s, "
                    "%d errors %s" % (label, run, res["n"], res["p50"], res["p99"], res["rps"],
                                      res["errors"], res["first_error"]))
        for k in samp_m:
            st, data = vc.request("GET", sparql_path(vt_boards_for_model(models[k]["id"])),
                                  headers=SPARQL_JSON)
            if st == 200:
                sets_m[k] = set(bindings(data, "board"))
        for k in samp_b:
            st, data = vc.request("GET", sparql_path(vt_models_for_board(boards[k]["iri"])),
                                  headers=SPARQL_JSON)
            if st == 200:
                sets_b[k] = set(bindings(data, "id"))
        vc.close()
        R["vt_rss"] = rss_mb(vt.proc.pid)
    finally:
        vt.stop()
    return sets_m, sets_b


def rebuild_scaling(args, tfd, sizes):
    """The matcher's index build on smaller fleets (boards, boards/10 models): the six templates
    through /sparql and the first match, each on a fresh daemon. Prints one line per size."""
    print()
    print("index build by fleet size (boards, models = boards/10; ms; each template once "
          "through /sparql, then the first match, which runs all six):")
    print("| boards | models | quads | " + " | ".join(TEMPLATES) + " | first match |")
    print("|---" * (len(TEMPLATES) + 4) + "|")
    for nb in sizes:
        work = tempfile.mkdtemp(prefix="tinyfleet-bench-match-scale.")
        proc = None
        try:
            nm = max(1, nb // 10)
            _, models, files, nquads = generate(nb, nm, args.seed, os.path.join(work, "nq"),
                                                args.shared)
            os.makedirs(os.path.join(work, "tf"))
            proc, port = start_tinyfleetd(tfd, os.path.join(work, "tf"), args.query_timeout)
            c = Client(port, timeout=args.query_timeout + 120)
            tf_import(c, files)
            tpl = tf_templates(c)
            t0 = time.perf_counter()
            st, data = c.request("GET", tf_model_path(models[0]["id"]))
            first = (time.perf_counter() - t0) * 1000
            c.close()
            cells = ["%.0f%s" % (ms, "" if rows.isdigit() else " (%s)" % rows)
                     for _, ms, rows in tpl]
            print("| %d | %d | %d | %s | %.0f%s |" % (nb, nm, nquads, " | ".join(cells), first,
                                                      "" if st == 200 else " (HTTP %d)" % st))
            sys.stdout.flush()
        finally:
            stop(proc, "tinyfleetd")
            shutil.rmtree(work, ignore_errors=True)


def report(args, tfd, R, seq, boards, models, nquads, nbytes, files, fit_counts, load_start,
           sets, truths):
    pairs_fit = sum(fit_counts)
    print()
    print("matchmaking benchmark: %d boards x %d models (seed %d), %d quads in %d graphs, "
          "%d requests per run" % (len(boards), len(models), args.seed, nquads,
                                   len(boards) + len(models), args.requests))
    ver = subprocess.run([tfd, "--version"], capture_output=True, text=True).stdout.strip()
    print("%s (%s, query_timeout %d s, http_threads default)%s" % (
        ver, tfd, args.query_timeout,
        "" if args.no_virtuoso else "; Virtuoso " + R.get("vt_version", "?")))
    mem = 0
    with open("/proc/meminfo") as fh:
        for line in fh:
            if line.startswith("MemTotal:"):
                mem = int(line.split()[1]) / 1048576.0
    print("%s %d cores, %.0f GiB RAM, Linux %s; load average at start %s, at end %s" % (
        time.strftime("%Y-%m-%d"), os.cpu_count(), mem, os.uname().release, load_start,
        loadavg()))
    print("fleet: %d of %d pairs fit (%.1f%%); %d boards state no memory; fitting boards per "
          "model: median %d, max %d; %d models fit no board" % (
              pairs_fit, len(boards) * len(models), 100.0 * pairs_fit / (len(boards) * len(models)),
              sum(1 for b in boards if b["ram"] is None), statistics.median(fit_counts),
              max(fit_counts), sum(1 for x in fit_counts if x == 0)))
    print()
    W = 46
    print("| %-*s | %12s | %12s | %7s |" % (W, "measure", "tinyfleetd", "Virtuoso", "tf/vt"))
    print("|%s|%s|%s|%s|" % ("-" * (W + 2), "-" * 14, "-" * 14, "-" * 9))

    def cell(x, nd):
        if isinstance(x, str):
            return x
        return fmt(x, nd)

    def row(label, a, b, nd=2):
        ratio = "-"
        if isinstance(a, float) and isinstance(b, float) and a == a and b == b and b > 0:
            ratio = "%.2f" % (a / b)
        print("| %-*s | %12s | %12s | %7s |" % (W, label, cell(a, nd), cell(b, nd), ratio))

    failed = "tf_failed" in R
    row("bulk import, s", R.get("tf_load_s"), R.get("vt_load_s"))
    for label, name in (("m2b", "model -> boards"), ("b2m", "board -> models")):
        for run, th, _, _ in seq["runs"]:
            a = R.get("tf_%s_%s" % (label, run)) or {}
            b = R.get("vt_%s_%s" % (label, run)) or {}
            how = "sequential" if th == 1 else "%d threads" % th
            for key, what, nd in (("p50", "p50 ms", 2), ("p99", "p99 ms", 2),
                                  ("mean", "mean ms", 2), ("rps", "req/s", 1)):
                row("%s, %s, %s" % (name, how, what), "failed" if failed else a.get(key),
                    b.get(key), nd)
    row("first match after import, ms", R.get("tf_first_ms"), R.get("vt_first_ms"), 0)
    if R.get("tf_rebuild"):
        row("first match after a write, p50 ms", pct(R["tf_rebuild"], 50), None, 0)
    print()
    if failed:
        print("tinyfleetd: the first match failed after %.0f ms (%s): the matcher's index was "
              "never built, so nothing else was measured on tinyfleetd." % (R["tf_first_ms"],
                                                                            R["tf_failed"]))
    else:
        print("tinyfleetd answers every pair with its verdict and reasons (all %s boards or %s "
              "models judged and ranked, the first 100 returned: %d / %d bytes); Virtuoso "
              "answers only the fitting set (SELECT DISTINCT ?board / ?id, no LIMIT)." % (
                  R["tf_total_boards"], R["tf_total_models"], R["tf_resp_bytes_m"],
                  R["tf_resp_bytes_b"]))
    if R.get("tf_rebuild"):
        print("first match after a write (PUT /data?graph=, then a match: the index rebuild), "
              "ms: %s (p50 %.0f); the match after it: p50 %.1f ms; the PUTs: p50 %.1f ms" % (
                  ", ".join("%.0f" % x for x in R["tf_rebuild"]), pct(R["tf_rebuild"], 50),
                  pct(R["tf_after"], 50), pct(R["tf_put"], 50)))
    if R.get("templates"):
        print("the matcher's six index queries through /sparql, one each: " + "; ".join(
            "%s %.0f ms (%s rows)" % t for t in R["templates"]) +
            "; sum %.0f ms" % sum(t[1] for t in R["templates"]))
    print("generation: %.2f s for %d quads (%.1f MB in %d files); the generator's own verdict "
          "on all %d pairs: %.2f s" % (R["gen_s"], nquads, nbytes / 1e6, len(files),
                                       len(boards) * len(models), R["truth_s"]))
    print("loaded: tinyfleetd %s triples (healthz)%s" % (
        R.get("tf_loaded"), "" if args.no_virtuoso else
        ", Virtuoso %s quads (RDF_QUAD)%s" % (
            R.get("vt_loaded"), "" if not R.get("vt_load_retries") else
            ", after loading %d failed files again" % R["vt_load_retries"])))

    for name, key in (("model -> fitting boards", "m"), ("board -> fitting models", "b")):
        truth, tf, vt = truths[key], sets["tf_" + key], sets["vt_" + key]
        n = len(truth)
        parts = []
        if tf:
            parts.append("tinyfleetd = generator %d/%d" % (
                sum(1 for k in truth if tf.get(k) == truth[k]), n))
        if vt:
            parts.append("Virtuoso = generator %d/%d" % (
                sum(1 for k in truth if vt.get(k) == truth[k]), n))
        if tf and vt:
            parts.append("tinyfleetd = Virtuoso %d/%d" % (
                sum(1 for k in truth if tf.get(k) == vt.get(k)), n))

        def count(k):
            c = "%d" % len(truth[k])
            bad = [(side, s.get(k)) for side, s in (("tf", tf), ("vt", vt))
                   if s and s.get(k) != truth[k]]
            if bad:
                c += "(%s)" % " ".join("%s %s" % (side, "-" if x is None else len(x))
                                       for side, x in bad)
            return c
        print("%s, %d samples: %s; fitting counts (generator): %s" % (
            name, n, ", ".join(parts) if parts else "no server answered",
            ", ".join(count(k) for k in truth)))
    print("runs: each has its own %d random models and %d random boards, the same on both "
          "sides (distinct models/boards: %s)" % (args.requests, args.requests, ", ".join(
              "%s %d/%d" % (run, len(set(mids)), len(set(biris)))
              for run, _, mids, biris in seq["runs"])))
    done = []
    errs = []
    for side, sname in (("tf", "tinyfleetd"), ("vt", "Virtuoso")):
        for label in ("m2b", "b2m"):
            for run, _, _, _ in seq["runs"]:
                res = R.get("%s_%s_%s" % (side, label, run))
                if not res:
                    continue
                done.append("%s %s %s %d/%d in %.0f s" % (sname, label, run, res["n"],
                                                          res["of"], res["wall"]))
                if res["errors"] or res["reconnects"]:
                    errs.append("%s %s %s: %d errors, %d reconnects %s" % (
                        sname, label, run, res["errors"], res["reconnects"], res["first_error"]))
    if done:
        print("requests completed per run (budget %d s; m2b = model -> boards, b2m = board -> "
              "models, xN = client threads): %s" % (args.run_budget, ", ".join(done)))
    print("request errors: %s; tinyfleetd log lines err %d, warning %d%s" % (
        "; ".join(errs) if errs else "none", R["tf_log_err"], R["tf_log_warn"],
        " (first: %s)" % R["tf_log_first"][:200] if R["tf_log_first"] else ""))
    print("RSS: tinyfleetd %.0f MB after the first match, %.0f MB at the end%s" % (
        R.get("tf_rss_first", float("nan")), R.get("tf_rss", float("nan")),
        "" if args.no_virtuoso else "; Virtuoso %.0f MB at the end" % R.get("vt_rss",
                                                                           float("nan"))))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--boards", type=int, default=10000)
    ap.add_argument("--models", type=int, default=1000)
    ap.add_argument("--requests", type=int, default=500, help="requests per measured run")
    ap.add_argument("--threads", type=int, default=8, help="client threads of the concurrent run")
    ap.add_argument("--run-budget", type=int, default=300,
                    help="seconds after which a measured run starts no more requests (300)")
    ap.add_argument("--rebuilds", type=int, default=5,
                    help="small writes each followed by a timed match (0: none)")
    ap.add_argument("--samples", type=int, default=20,
                    help="models and boards whose fitting sets are compared")
    ap.add_argument("--query-timeout", type=int, default=60,
                    help="tinyfleetd's query_timeout in s, which also bounds each of the "
                    "matcher's index queries (default 60; the daemon's own default is 10)")
    ap.add_argument("--no-templates", dest="templates", action="store_false",
                    help="do not time the six sparql/match-*.rq queries through /sparql")
    ap.add_argument("--rebuild-scaling", metavar="N,N,...",
                    help="also time the index build on fresh fleets of N boards and N/10 models")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--no-virtuoso", action="store_true")
    ap.add_argument("--tinyfleetd")
    ap.add_argument("--shared", default=os.path.join(SRC, "..", "shared"))
    ap.add_argument("--keep", action="store_true", help="keep the work directory")
    args = ap.parse_args()
    for k in ("boards", "models", "requests", "threads", "samples", "query_timeout", "run_budget"):
        if getattr(args, k) < 1:
            ap.error("--%s must be at least 1" % k.replace("_", "-"))
    if args.rebuilds < 0:
        ap.error("--rebuilds must be at least 0")
    sizes = []
    if args.rebuild_scaling:
        try:
            sizes = [int(x) for x in args.rebuild_scaling.split(",") if x]
        except ValueError:
            ap.error("--rebuild-scaling takes a comma-separated list of board counts")

    tfd = None
    for p in (args.tinyfleetd, os.environ.get("TINYFLEETD"), "./daemon/tinyfleetd",
              os.path.join(SRC, "daemon/tinyfleetd")):
        if p and os.access(p, os.X_OK):
            tfd = os.path.abspath(p)
            break
    if not tfd:
        sys.exit("build first (make) or pass --tinyfleetd PATH: tinyfleetd not found")
    if not args.no_virtuoso:
        ensure_virtuoso()

    # SIGTERM and SIGHUP become an exception, so that the finally clauses stop what was started.
    def on_signal(signum, frame):
        raise SystemExit(128 + signum)
    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGHUP, on_signal)

    load_start = loadavg()
    work = tempfile.mkdtemp(prefix="tinyfleet-bench-match.")
    R = {}
    try:
        log("generating %d boards and %d models (seed %d)" % (args.boards, args.models,
                                                               args.seed))
        t0 = time.perf_counter()
        datadir = os.path.join(work, "nq")
        boards, models, files, nquads = generate(args.boards, args.models, args.seed, datadir,
                                                 args.shared)
        R["gen_s"] = time.perf_counter() - t0
        nbytes = sum(os.path.getsize(f) for f in files)
        log("%d quads in %d files (%.1f MB) in %.2f s" % (nquads, len(files), nbytes / 1e6,
                                                          R["gen_s"]))
        t0 = time.perf_counter()
        fit_counts = [sum(1 for b in boards if fits(m, b)) for m in models]
        R["truth_s"] = time.perf_counter() - t0

        rng = random.Random(args.seed * 31 + 5)
        def draw(n):
            return ([models[rng.randrange(len(models))]["id"] for _ in range(n)],
                    [boards[rng.randrange(len(boards))]["iri"] for _ in range(n)])
        # Each measured run has its own random ids, the same on both sides.
        seq = {"first": (models[0]["id"], boards[0]["iri"]), "warm": draw(10)}
        seq["runs"] = [("x1", 1) + draw(args.requests),
                       ("x%d" % args.threads, args.threads) + draw(args.requests)]
        samp_m = rng.sample(range(len(models)), min(args.samples, len(models)))
        samp_b = rng.sample(range(len(boards)), min(args.samples, len(boards)))
        truths = {"m": {k: set(b["iri"] for b in boards if fits(models[k], b)) for k in samp_m},
                  "b": {k: set(m["id"] for m in models if fits(m, boards[k])) for k in samp_b}}

        sets = {}
        sets["tf_m"], sets["tf_b"] = bench_tinyfleetd(args, tfd, work, files, seq, samp_m,
                                                      samp_b, models, boards, R)
        sets["vt_m"], sets["vt_b"] = {}, {}
        if not args.no_virtuoso:
            sets["vt_m"], sets["vt_b"] = bench_virtuoso(args, work, datadir, seq, samp_m,
                                                        samp_b, models, boards, R)
        report(args, tfd, R, seq, boards, models, nquads, nbytes, files, fit_counts, load_start,
               sets, truths)
        if sizes:
            rebuild_scaling(args, tfd, sizes)
    finally:
        if args.keep:
            log("work directory kept: %s" % work)
        else:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
