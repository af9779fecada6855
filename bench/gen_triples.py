#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Deterministic generator of a synthetic TinyML fleet for benchmarks.

Writes exactly N triples shaped like the paper's knowledge graph (Ren, Anicic, Runkler 2022):
boards described as in ../shared/tinyml-kg/devices/*.ttl (s3n:SmartSensor with sensor
subsystems, an s3n:MicroController whose capability carries s3n_extend:RAM / s3n_extend:Flash in
kilobytes, WoT TD property affordances with forms) and neural networks in nnet: terms (metric,
MACs, RAM/Flash conditions, input fed by a sensor, layers). Each board and each model is its own
named graph; the few triples left over after the last whole entity go into one catalog graph, so
the total is exactly N. The same seed and N always give the same bytes.

Output (in --out DIR):
  nq/part-NNN.nq   N-Quads, split into chunks of about --chunk triples on entity boundaries
                   (both tinyfleetd's /data?default and Virtuoso's bulk loader take them best)
  nt/NNNNNN.nt     with --nt: one N-Triples file per graph, plus nt/graphs.tsv (file<TAB>graph IRI)
  meta.json        counts, a sample board IRI, and how many boards case study 1 should return

Standard library only. Usage: gen_triples.py --triples 1000000 --out /tmp/fleet
"""
import argparse
import json
import os
import random
import sys
import uuid

BASE = "http://bench.tinyfleet.dev/"
RDF_TYPE = "<http://www.w3.org/1999/02/22-rdf-syntax-ns#type>"
RDFS = "http://www.w3.org/2000/01/rdf-schema#"
XSD = "http://www.w3.org/2001/XMLSchema#"
S3N = "http://w3id.org/s3n/"
SSN = "http://www.w3.org/ns/ssn/"
SSNS = "http://www.w3.org/ns/ssn/systems/"
SCHEMA = "https://schema.org/"
OM = "http://www.ontology-of-units-of-measure.org/resource/om-2/"
TD = "https://www.w3.org/2019/wot/td#"
NNET = "http://tinyml-schema.org/networkschema#"
S3NX = "http://tinyml-schema.org/s3n_extend/"
SOSAX = "http://tinyml-schema.org/sosa_extend/"
SSNX = "http://tinyml-schema.org/ssn_extend/"
FLEET = "https://tinyfleet.dev/ns#"


def iri(ns, local=""):
    return "<" + ns + local + ">"


def lit(s, lang="en"):
    s = s.replace("\\", "\\\\").replace('"', '\\"')
    return '"%s"@%s' % (s, lang) if lang else '"%s"' % s


def typed(v, dt):
    return '"%s"^^<%s%s>' % (v, XSD, dt)


def integer(v):
    return typed(int(v), "integer")


def uuid4(r):
    return str(uuid.UUID(int=r.getrandbits(128), version=4))


BOOL_TRUE = typed("true", "boolean")

# (name, unit, min, max, title, td:type) for each sensor kind the paper's boards carry.
SENSORS = [
    ("Accelerometer", "om:gravity", -4, 4, "Acceleration", "number"),
    ("Gyroscope", "om:degress_per_second", -2000, 2000, "Orientation", "number"),
    ("Magnetometer", "om:micro_tesla", -400, 400, "MagneticField", "number"),
    ("Thermometer", "om:degree_Celsius", -40, 120, "Temperature", "number"),
    ("Microphone", None, None, None, "Sound", "number"),
    ("Camera", "om:pixel", None, None, "Image", "array"),
]
# (RAM kB, Flash kB) of real microcontrollers (nRF52840, STM32F746, ESP32, SAMD51, RP2040, ...).
MEMORY = [(16, 128), (32, 256), (64, 512), (96, 512), (128, 1024), (192, 512), (256, 1024),
          (256, 2048), (320, 1024), (512, 2048), (520, 4096), (1024, 2048)]
VENDORS = ["Arduino", "Adafruit", "SparkFun", "Seeed", "Syntiant", "STMicro", "Espressif", "Nordic"]
LAYER_TYPES = ["Conv2D", "DepthwiseConv2D", "FullyConnected", "AveragePool2D", "MaxPool2D",
               "Reshape", "Softmax", "Add", "Mul", "Pad", "Mean", "Quantize", "Dequantize"]
ACTIVATIONS = ["Relu", "Relu6", "Tanh", None, None]
QUANT = ["Int8", "Int8", "Int8", "Uint8", "Float32", "Int16"]
CATEGORIES = ["Classification", "Classification", "ObjectDetection", "FeatureExtraction",
              "Unsupervised", "OtherCategory"]
# (task, description, sensor, dataset) as in ../shared/tinyml-kg/models/*.json
TASKS = [
    ("keyword spotting", "a NN for recognising the yes/no keywords", "Microphone",
     "https://www.tensorflow.org/datasets/catalog/speech_commands"),
    ("keyword spotting", "a NN for recognising up/down/go", "Microphone",
     "https://www.tensorflow.org/datasets/catalog/speech_commands"),
    ("person detection", "a NN for detecting if a person is in the image", "Camera",
     "https://arxiv.org/abs/1906.05721"),
    ("gesture", "a NN for recognising magic wand gestures", "Accelerometer",
     "https://github.com/tensorflow/tflite-micro/magic_wand"),
    ("anomaly detection", "an autoencoder for machine sound anomalies", "Microphone",
     "https://zenodo.org/record/3384388"),
    ("motion", "a NN for classifying motions from IMU data", "Gyroscope",
     "https://github.com/bench/motion-dataset"),
]


class Entity:
    """The triples of one named graph, with the facts meta.json needs."""

    def __init__(self, graph, kind):
        self.graph = graph
        self.kind = kind
        self.triples = []
        self.case1 = False

    def add(self, s, p, o):
        self.triples.append((s, p, o))


def board(i):
    r = random.Random(0x7F1EE7 * 1000003 + i)
    name = "board-%06d" % i
    e = Entity(iri(BASE, "graph/board/%06d" % i), "board")
    b = iri(BASE, "board/%06d" % i)
    bn = "_:b%dn" % i
    vendor = r.choice(VENDORS)
    e.add(b, RDF_TYPE, iri(S3N, "SmartSensor"))
    e.add(b, iri(TD, "title"), lit("%s-Board_%d" % (vendor, i)))
    e.add(b, iri(TD, "description"), lit("%s TinyML board %d." % (vendor, i)))
    e.add(b, iri(SCHEMA, "identifier"), lit(uuid4(r), None))
    e.add(b, iri(TD, "hasSecurityConfiguration"), iri(TD, "nosec_sc"))
    e.add(b, iri(TD, "securityDefinitions"), bn + "sec")
    e.add(bn + "sec", iri(TD, "scheme"), lit("nosec"))
    present = [s for s in SENSORS if r.random() < 0.55]
    if not present:
        present = [r.choice(SENSORS)]
    for k, (sname, unit, lo, hi, title, ttype) in enumerate(present):
        ss = "%ss%d" % (bn, k)
        e.add(b, iri(SSN, "hasSubSystem"), ss)
        e.add(ss, RDF_TYPE, iri(SOSAX, sname))
        aff, form = "%sa%d" % (bn, k), "%sf%d" % (bn, k)
        e.add(b, iri(TD, "hasPropertyAffordance"), aff)
        e.add(aff, iri(TD, "description"), lit("%s data." % title))
        e.add(aff, iri(TD, "hasForm"), form)
        e.add(form, iri(TD, "href"), lit("%sboard/%06d/%s" % (BASE, i, title.lower())))
        e.add(form, iri(TD, "op"), lit("observeproperty"))
        e.add(form, iri(TD, "op"), lit("readproperty"))
        e.add(aff, iri(TD, "isObservable"), BOOL_TRUE)
        e.add(aff, iri(TD, "readOnly"), BOOL_TRUE)
        e.add(aff, iri(TD, "title"), lit(title))
        e.add(aff, iri(TD, "type"), lit(ttype))
        if lo is not None:
            e.add(aff, iri(TD, "minimum"), integer(lo))
            e.add(aff, iri(TD, "maximum"), integer(hi))
        if unit:
            e.add(aff, iri(TD, "unit"), lit(unit))
    ram, flash = r.choice(MEMORY)
    mc, cap, pf, pr = bn + "mc", bn + "cap", bn + "flash", bn + "ram"
    e.add(b, iri(SSN, "hasSubSystem"), mc)
    e.add(mc, RDF_TYPE, iri(S3N, "MicroController"))
    e.add(mc, iri(RDFS, "comment"), lit("%s microcontroller of board %d." % (vendor, i)))
    e.add(mc, iri(S3N, "hasSystemCapability"), cap)
    e.add(cap, iri(SSNS, "hasSystemProperty"), pf)
    e.add(cap, iri(SSNS, "hasSystemProperty"), pr)
    for node, cls, val in ((pf, "Flash", flash), (pr, "RAM", ram)):
        e.add(node, RDF_TYPE, iri(S3NX, cls))
        e.add(node, iri(SCHEMA, "unitCode"), iri(OM, "kilobyte"))
        e.add(node, iri(SCHEMA, "value"), integer(val))
        e.add(node, iri(RDFS, "comment"), lit(cls + "."))
    names = {s[0] for s in present}
    e.case1 = "Accelerometer" in names and "Gyroscope" in names and ram >= 116 and flash >= 531
    e.subject = b
    return e


def model(j):
    r = random.Random(0x70DE1 * 1000003 + j)
    e = Entity(iri(BASE, "graph/model/%06d" % j), "model")
    m = iri(BASE, "model/%06d" % j)
    mb = BASE + "model/%06d/" % j
    bn = "_:m%dn" % j
    task, desc, sensor, dataset = r.choice(TASKS)
    e.add(m, RDF_TYPE, iri(NNET, "NeuralNetwork"))
    e.add(m, iri(SCHEMA, "identifier"), lit(uuid4(r), None))
    e.add(m, iri(SCHEMA, "name"), lit("%s model %d" % (task, j), None))
    e.add(m, iri(SCHEMA, "description"), lit(desc, None))
    e.add(m, iri(SCHEMA, "creator"), lit(r.choice(VENDORS), None))
    day = "2022-%02d-%02d" % (r.randint(1, 12), r.randint(1, 28))
    e.add(m, iri(SCHEMA, "dateCreated"), typed(day, "date"))
    e.add(m, iri(SCHEMA, "runtimePlatform"), lit("TFLite Micro", None))
    e.add(m, iri(NNET, "hasCategory"), iri(NNET, r.choice(CATEGORIES)))
    e.add(m, iri(NNET, "trainingDataset"), iri(dataset))
    e.add(m, iri(NNET, "hasMultiplyAccumulateOps"), integer(r.randint(10_000, 60_000_000)))
    e.add(m, iri(NNET, "hasMetric"), bn + "metric")
    e.add(bn + "metric", RDF_TYPE, iri(NNET, "Metric"))
    e.add(bn + "metric", RDF_TYPE, iri(NNET, "Top_1_accuracy"))
    e.add(bn + "metric", iri(NNET, "hasMetricValue"),
          typed("%.2f" % r.uniform(60, 99), "decimal"))
    inp, out = iri(mb + "input"), iri(mb + "output")
    e.add(m, iri(SSN, "hasInput"), inp)
    e.add(inp, RDF_TYPE, iri(NNET, "NetworkInput"))
    e.add(inp, iri(NNET, "hasInputInfo"), lit("input of a %s network" % task, None))
    shape = "1,%d,%d,1" % (r.choice([49, 96, 128]), r.choice([10, 40, 96]))
    e.add(inp, iri(FLEET, "shape"), lit(shape, None))
    e.add(inp, iri(FLEET, "dtype"), iri(NNET, "Int8"))
    e.add(m, iri(SSN, "hasOutput"), out)
    e.add(out, RDF_TYPE, iri(NNET, "NetworkOutput"))
    e.add(out, iri(NNET, "hasOutputInfo"), lit("scores of a %s network" % task, None))
    e.add(bn + "sensor", RDF_TYPE, iri(SOSAX, sensor))
    e.add(bn + "sensor", iri(SSNX, "provideInput"), inp)
    for cls, lo, hi in (("RAM", 2, 400), ("Flash", 16, 2000)):
        pf, cond = bn + "pf" + cls, bn + "c" + cls
        e.add(m, iri(S3N, "hasProcedureFeature"), pf)
        e.add(pf, iri(SSNS, "inCondition"), cond)
        e.add(cond, RDF_TYPE, iri(S3NX, cls))
        e.add(cond, iri(SCHEMA, "minValue"), integer(r.randint(lo, hi)))
        e.add(cond, iri(SCHEMA, "unitCode"), iri(OM, "kilobyte"))
    nlayers = r.randint(6, 30)
    for k in range(nlayers):
        layer = iri(mb + "layer/%d" % k)
        link = "inputLayer" if k == 0 else "outputLayer" if k == nlayers - 1 else "middleLayer"
        e.add(m, iri(NNET, link), layer)
        e.add(layer, RDF_TYPE, iri(NNET, "Layer"))
        e.add(layer, iri(NNET, "hasIndex"), integer(k))
        e.add(layer, iri(NNET, "hasType"), iri(NNET, r.choice(LAYER_TYPES)))
        e.add(layer, iri(NNET, "hasQuantization"), iri(NNET, r.choice(QUANT)))
        for prop in ("shapeIn", "shapeOut"):
            dims = (r.randint(1, 96), r.randint(1, 96), r.randint(1, 64))
            e.add(layer, iri(NNET, prop), lit("1,%d,%d,%d" % dims, None))
        act = r.choice(ACTIVATIONS)
        if act:
            e.add(layer, iri(NNET, "hasActivation"), iri(NNET, act))
    e.subject = m
    return e


def entities():
    """Boards and models interleaved, four boards to a model, for ever."""
    i = j = 0
    while True:
        for _ in range(4):
            i += 1
            yield board(i)
        j += 1
        yield model(j)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--triples", type=int, default=1_000_000, help="exact number of triples")
    ap.add_argument("--out", required=True, help="output directory (created)")
    ap.add_argument("--chunk", type=int, default=100_000, help="triples per N-Quads file")
    ap.add_argument("--nt", action="store_true", help="also write one N-Triples file per graph")
    a = ap.parse_args()
    if a.triples < 1 or a.chunk < 1:
        ap.error("--triples and --chunk must be positive")
    os.makedirs(os.path.join(a.out, "nq"), exist_ok=True)
    if a.nt:
        os.makedirs(os.path.join(a.out, "nt"), exist_ok=True)
        gmap = open(os.path.join(a.out, "nt", "graphs.tsv"), "w")

    total = part = in_part = 0
    nq = None
    meta = {"triples": a.triples, "boards": 0, "models": 0, "graphs": 0, "case1_boards": 0,
            "sample_board": None, "sample_model": None, "files": []}
    catalog = Entity(iri(BASE, "graph/catalog"), "catalog")
    ngraph = 0

    def write(ent):
        nonlocal nq, part, in_part, total, ngraph
        if nq is None or in_part >= a.chunk:
            if nq:
                nq.close()
            part += 1
            in_part = 0
            name = os.path.join(a.out, "nq", "part-%03d.nq" % part)
            meta["files"].append(os.path.relpath(name, a.out))
            nq = open(name, "w")
        g = ent.graph
        nq.write("".join("%s %s %s %s .\n" % (s, p, o, g) for s, p, o in ent.triples))
        if a.nt:
            ngraph += 1
            fn = "%06d.nt" % ngraph
            with open(os.path.join(a.out, "nt", fn), "w") as f:
                f.write("".join("%s %s %s .\n" % t for t in ent.triples))
            gmap.write("%s\t%s\n" % (fn, g[1:-1]))
        in_part += len(ent.triples)
        total += len(ent.triples)
        meta["graphs"] += 1

    for ent in entities():
        if total + len(ent.triples) > a.triples:
            break
        write(ent)
        meta[ent.kind + "s"] += 1
        meta["case1_boards"] += ent.case1
        key = "sample_" + ent.kind
        if meta[key] is None and len(ent.triples) > 0:
            meta[key] = ent.subject[1:-1]
    # Exactly N: the remainder (fewer triples than one entity) lists boards in a catalog graph.
    k = 0
    while total + len(catalog.triples) < a.triples:
        k += 1
        catalog.add(iri(BASE, "catalog"), iri(SCHEMA, "itemListElement"),
                    iri(BASE, "board/%06d" % k))
    if catalog.triples:
        write(catalog)
    nq.close()
    if a.nt:
        gmap.close()
    with open(os.path.join(a.out, "meta.json"), "w") as f:
        json.dump(meta, f, indent=1)
    print(json.dumps({k: v for k, v in meta.items() if k != "files"}), file=sys.stderr)


if __name__ == "__main__":
    main()
