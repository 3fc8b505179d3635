#!/usr/bin/env python3
"""decode_pprof.py - a gzipped pprof profile, decoded by `protoc --decode` against
google/pprof's profile.proto (third_party/pprof), as JSON on stdout:

  {"sample_types": [["violations", "count"], ...], "default": "blocked",
   "samples": [{"values": [..], "labels": {"call": "read", ...}, "stack": ["read", "f", ...]}],
   "mappings": [{"file": "...", "build_id": "..."}], "time_nanos": N, "duration_nanos": N}

stack is leaf first, function names.  Used by t_push.sh; no Python protobuf package
needed, only protoc (Debian protobuf-compiler) - a real consumer of the encoding.
Usage: decode_pprof.py FILE.pb.gz"""
import gzip
import json
import os
import re
import subprocess
import sys

PROTO = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "third_party", "pprof")


def parse(text):
    """protoc's text format → nested dicts/lists (repeated fields become lists)."""
    root, stack = {}, []
    cur = root
    for line in text.splitlines():
        line = line.strip()
        if not line:
            continue
        if line.endswith("{"):
            new = {}
            cur.setdefault(line[:-1].strip(), []).append(new)
            stack.append(cur)
            cur = new
        elif line == "}":
            cur = stack.pop()
        else:
            k, v = line.split(":", 1)
            v = v.strip()
            v = json.loads(v) if v.startswith('"') else (v == "true" if v in ("true", "false") else int(v))
            cur.setdefault(k, []).append(v)
    return root


def first(d, k, default=0):
    return d.get(k, [default])[0]


def main():
    raw = gzip.open(sys.argv[1]).read()
    out = subprocess.run(["protoc", "--decode", "perftools.profiles.Profile", "--proto_path", PROTO,
                          "profile.proto"], input=raw, stdout=subprocess.PIPE, check=True).stdout
    p = parse(out.decode("utf-8", "replace"))
    st = p.get("string_table", [])
    assert st and st[0] == "", "string_table[0] must be empty"
    s = lambda i: st[i]
    funcs = {first(f, "id"): s(first(f, "name")) for f in p.get("function", [])}
    locs = {first(l, "id"): [funcs[first(ln, "function_id")] for ln in l.get("line", [])]
            for l in p.get("location", [])}
    samples = []
    for sm in p.get("sample", []):
        stack = []
        for lid in sm.get("location_id", []):
            stack += locs[lid]
        samples.append({"values": sm.get("value", []), "stack": stack,
                        "labels": {s(first(l, "key")): s(first(l, "str")) for l in sm.get("label", [])}})
    print(json.dumps({
        "sample_types": [[s(first(t, "type")), s(first(t, "unit"))] for t in p.get("sample_type", [])],
        "default": s(first(p, "default_sample_type")),
        "samples": samples,
        "mappings": [{"file": s(first(m, "filename")), "build_id": s(first(m, "build_id"))}
                     for m in p.get("mapping", [])],
        "time_nanos": first(p, "time_nanos"), "duration_nanos": first(p, "duration_nanos")}))


main()
