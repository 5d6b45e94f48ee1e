#!/usr/bin/env python3
"""Reads vxrouted's /metrics bodies with the Prometheus client library's own
parser (python3-prometheus-client) and checks or extracts values from them.

usage:
  prom_check.py check FILE DROP_REASONS_DEF
      parse FILE; check the exposition rules (vxroute_ prefix, HELP and TYPE
      for every family, counters end in _total, one series per reason of
      drop_reasons.def, no duplicate series); print a summary line
  prom_check.py value FILE NAME [LABEL=VALUE ...]
      print the sum of the samples called NAME whose labels match
  prom_check.py delta BEFORE AFTER MIN NAME [LABEL=VALUE ...]
      AFTER - BEFORE for that sum; fail unless it is at least MIN
Exits non-zero with one line saying what is wrong.
"""
import re
import sys

try:
    from prometheus_client.parser import text_string_to_metric_families
except ImportError:
    sys.exit("prometheus_client not importable by %s: install python3-prometheus-client (scripts/deps.sh)"
             % sys.executable)


def families(path):
    text = open(path, encoding="utf-8").read()
    if not text.strip():
        sys.exit("%s is empty" % path)
    try:
        return text, list(text_string_to_metric_families(text))
    except Exception as e:  # the parser raises ValueError and others on bad input
        sys.exit("%s does not parse as Prometheus text: %s" % (path, e))


def matches(sample, want):
    return all(sample.labels.get(k) == v for k, v in want.items())


def total(path, name, want):
    _, fams = families(path)
    found = [s for f in fams for s in f.samples if s.name == name and matches(s, want)]
    if not found:
        sys.exit("no sample %s%s in %s" % (name, want or "", path))
    return sum(s.value for s in found)


def labels_of(args):
    want = {}
    for a in args:
        k, sep, v = a.partition("=")
        if not sep:
            sys.exit("label filter must be LABEL=VALUE, got %r" % a)
        want[k] = v
    return want


def check(path, drop_def):
    text, fams = families(path)
    problems = []
    # The parser folds a counter's _total into its family name; the rules
    # are about the text itself, so read the TYPE and HELP lines directly.
    types = re.findall(r"^# TYPE (\S+) (\S+)$", text, re.M)
    helps = set(re.findall(r"^# HELP (\S+) ", text, re.M))
    counters = [n for n, t in types if t == "counter"]
    for name, typ in types:
        if not name.startswith("vxroute_"):
            problems.append("family %s lacks the vxroute_ prefix" % name)
        if typ not in ("counter", "gauge", "histogram"):
            problems.append("family %s has type %s" % (name, typ))
        if name not in helps:
            problems.append("family %s has no HELP" % name)
        if typ == "counter" and not name.endswith("_total"):
            problems.append("counter %s does not end in _total" % name)
        if typ in ("gauge", "histogram") and name.endswith("_total"):
            problems.append("%s %s ends in _total" % (typ, name))
    if len({n for n, _ in types}) != len(types):
        problems.append("a family is declared twice")
    seen = set()
    samples = 0
    for f in fams:
        for s in f.samples:
            samples += 1
            key = (s.name, tuple(sorted(s.labels.items())))
            if key in seen:
                problems.append("series %s%s twice" % key)
            seen.add(key)
            if f.type == "counter" and not s.name.endswith("_total"):
                problems.append("counter sample %s does not end in _total" % s.name)
            if f.type == "histogram" and not s.name.endswith(("_bucket", "_sum", "_count", "_created")):
                problems.append("histogram sample %s is not _bucket, _sum or _count" % s.name)
            if f.type == "histogram" and s.name.endswith("_bucket") and "le" not in s.labels:
                problems.append("histogram bucket %s has no le label" % s.name)
    reasons = re.findall(r"^VXR_DROP\((\w+),", open(drop_def).read(), re.M)
    got = {s.labels.get("reason") for f in fams for s in f.samples if s.name == "vxroute_drops_total"}
    if not reasons:
        problems.append("no VXR_DROP lines in %s" % drop_def)
    missing = [r for r in reasons if r not in got]
    if missing:
        problems.append("vxroute_drops_total lacks reasons %s" % ", ".join(missing))
    extra = got - set(reasons)
    if extra:
        problems.append("vxroute_drops_total has unknown reasons %s" % ", ".join(sorted(map(str, extra))))
    if problems:
        sys.exit("; ".join(problems[:8]))
    print("%d families (%d counters), %d samples, %d drop reasons, %d bytes"
          % (len(types), len(counters), samples, len(reasons), len(text.encode())))


def main(argv):
    if len(argv) >= 3 and argv[0] == "check":
        check(argv[1], argv[2])
    elif len(argv) >= 3 and argv[0] == "value":
        v = total(argv[1], argv[2], labels_of(argv[3:]))
        print("%d" % v if v == int(v) else "%g" % v)
    elif len(argv) >= 5 and argv[0] == "delta":
        before = total(argv[1], argv[4], labels_of(argv[5:]))
        after = total(argv[2], argv[4], labels_of(argv[5:]))
        d = after - before
        label = argv[4] + ("{%s}" % ",".join(argv[5:]) if argv[5:] else "")
        if d < float(argv[3]):
            sys.exit("%s grew by %g (from %g to %g), expected at least %s" % (label, d, before, after, argv[3]))
        print("%s +%g (%g -> %g)" % (label, d, before, after))
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main(sys.argv[1:])
