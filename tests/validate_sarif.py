#!/usr/bin/env python3
"""validate_sarif.py FILE... - validate SARIF files against the vendored 2.1.0 schema.

Exit 0 when every file is valid, 1 with the first error per file otherwise, 77 when
python3-jsonschema is not installed (callers treat that as "validator unavailable" and
fall back to structural checks)."""
import json
import os
import sys

try:
    import jsonschema
except ImportError:
    sys.exit(77)

here = os.path.dirname(os.path.abspath(__file__))
with open(os.path.join(here, "schemas", "sarif-2.1.0-rtm.5.json")) as f:
    schema = json.load(f)
validator = jsonschema.Draft4Validator(schema)
bad = 0
for path in sys.argv[1:]:
    with open(path) as f:
        doc = json.load(f)
    errors = sorted(validator.iter_errors(doc), key=lambda e: list(e.path))
    if errors:
        bad = 1
        e = errors[0]
        print(f"{path}: {len(errors)} schema error(s); first at /{'/'.join(map(str, e.path))}: {e.message}")
    else:
        print(f"{path}: valid SARIF 2.1.0")
sys.exit(bad)
