"""Independent decoder for the tests: Confluent wire format + fastavro, schema fetched by id.

stdin: a JSON array of base64 values; argv[1]: the registry's Confluent-compatible base URL.
stdout: a JSON array of decoded records (unions of records as [name, value]).
"""
import base64
import io
import json
import struct
import sys
import urllib.request

import fastavro

registry = sys.argv[1].rstrip("/")
schemas = {}


def schema(schema_id):
    if schema_id not in schemas:
        with urllib.request.urlopen(f"{registry}/schemas/ids/{schema_id}") as res:
            text = json.load(res)["schema"]
        schemas[schema_id] = fastavro.parse_schema(json.loads(text))
    return schemas[schema_id]


out = []
for b64 in json.load(sys.stdin):
    raw = base64.b64decode(b64)
    magic, schema_id = struct.unpack(">bI", raw[:5])
    assert magic == 0, "magic byte"
    record = fastavro.schemaless_reader(io.BytesIO(raw[5:]), schema(schema_id), None, return_record_name=True)
    out.append({"schemaId": schema_id, "record": record})
# timestamp-millis comes back as a datetime: give it back as Unix milliseconds
json.dump(out, sys.stdout, ensure_ascii=False, default=lambda o: round(o.timestamp() * 1000))
