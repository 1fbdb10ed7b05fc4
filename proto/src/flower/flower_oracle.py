"""Oracle for records.golden.test.ts: deflates messages with flwr's own code and prints their objects.

Reads a JSON list of message specs on stdin, writes a JSON list of {"message_id", "objects": [[id, hex], ...]}
(post-order, children first) on stdout. Set FLWR_PRIVATE_MAX_ARRAY_CHUNK_SIZE in the environment to change Flower's
array chunk size. Values: {"float": x}, {"int": "decimal"}, {"bool": b}, {"str": s}, {"bytes": hex}, {"list": [...]}.
"""

import json
import sys

import numpy as np
from flwr.app import Array, ArrayRecord, ConfigRecord, Message, Metadata, MetricRecord, RecordDict
from flwr.app.error import Error
from flwr.supercore.inflatable.inflatable_object import get_all_nested_objects


def value(v):
    if "list" in v:
        return [value(x) for x in v["list"]]
    if "float" in v:
        return float(v["float"])
    if "int" in v:
        return int(v["int"])
    if "bool" in v:
        return bool(v["bool"])
    if "str" in v:
        return v["str"]
    if "bytes" in v:
        return bytes.fromhex(v["bytes"])
    raise ValueError(f"unknown value {v}")


def record(r):
    kind = r["kind"]
    if kind == "array":
        return ArrayRecord(
            {
                k: Array(np.array(a["values"], dtype=np.float32).reshape(a["shape"]))
                for k, a in r["items"].items()
            }
        )
    items = {k: value(v) for k, v in r["items"].items()}
    return MetricRecord(items) if kind == "metric" else ConfigRecord(items)


def message(spec):
    m = spec["metadata"]
    metadata = Metadata(
        run_id=int(m["run_id"]),
        message_id="",
        src_node_id=int(m["src_node_id"]),
        dst_node_id=int(m["dst_node_id"]),
        reply_to_message_id=m["reply_to_message_id"],
        group_id=m["group_id"],
        created_at=float(m["created_at"]),
        ttl=float(m["ttl"]),
        message_type=m["message_type"],
        src_task_id=int(m["src_task_id"]) if m.get("src_task_id") is not None else None,
        dst_task_id=int(m["dst_task_id"]) if m.get("dst_task_id") is not None else None,
    )
    if spec.get("error"):
        return Message(metadata=metadata, error=Error(code=int(spec["error"]["code"]), reason=spec["error"]["reason"]))
    content = RecordDict({k: record(r) for k, r in spec["content"].items()})
    return Message(metadata=metadata, content=content)


def main():
    out = []
    for spec in json.load(sys.stdin):
        msg = message(spec)
        objects = get_all_nested_objects(msg)
        out.append(
            {
                "message_id": msg.object_id,
                "objects": [[oid, obj.deflate().hex()] for oid, obj in objects.items()],
            }
        )
    json.dump(out, sys.stdout)


if __name__ == "__main__":
    main()
