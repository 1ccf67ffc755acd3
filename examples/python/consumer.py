"""Prints the C2C and group messages of tim-kafka-bridge's topics, one line each."""

import os
import re
import sys

from confluent_kafka import Consumer
from confluent_kafka.schema_registry import SchemaRegistryClient
from confluent_kafka.schema_registry.avro import AvroDeserializer
from confluent_kafka.serialization import MessageField, SerializationContext


def env(name, default):
    return os.environ.get(name) or default


def element(e):
    """A text element as its Text, any other as its type in brackets."""
    if e["MsgType"] == "TIMTextElem":
        return e["MsgContent"].get("Text") or ""
    return f"[{e['MsgType']}]"


def line(r):
    body = " ".join(element(e) for e in r["MsgBody"])
    if r["CallbackCommand"].startswith("Group."):
        sender = "-" if r["From_Account"] is None else r["From_Account"]
        seq = "-" if r["MsgSeq"] is None else r["MsgSeq"]
        return f"group {r['GroupId']} {sender} [{seq}]: {body}"
    return f"c2c {r['From_Account']} -> {r['To_Account']} [{r['MsgKey']}]: {body}"


def escape(s):
    """One record, one line: a backslash as \\\\, a control character as \\uXXXX."""
    return re.sub(r"[\\\x00-\x1f]", lambda m: "\\\\" if m[0] == "\\" else f"\\u{ord(m[0]):04x}", s)


def main():
    sys.stdout.reconfigure(encoding="utf-8")
    registry_url = env("SCHEMA_REGISTRY_URL", "http://127.0.0.1:8081/apis/ccompat/v7")
    registry = SchemaRegistryClient({"url": registry_url})
    deserialize = AvroDeserializer(registry)  # the writer schema, fetched by the id in each value
    consumer = Consumer({
        "bootstrap.servers": env("KAFKA_BROKERS", "127.0.0.1:9092"),
        "group.id": env("GROUP_ID", "example-python"),
        "auto.offset.reset": "earliest",
    })
    consumer.subscribe(env("TOPICS", "c2c.after-send-msg,group.after-send-msg").split(","))
    max_messages, printed = int(env("MAX_MESSAGES", "0")), 0  # 0: run until stopped
    try:
        while max_messages == 0 or printed < max_messages:
            msg = consumer.poll(1.0)
            if msg is None:
                continue
            if msg.error():
                if msg.error().fatal():
                    raise SystemExit(f"consumer error: {msg.error()}")
                print(f"consumer: {msg.error()}", file=sys.stderr)  # librdkafka retries
                continue
            record = deserialize(msg.value(), SerializationContext(msg.topic(), MessageField.VALUE))
            print(escape(line(record)), flush=True)
            printed += 1
    finally:
        consumer.close()


if __name__ == "__main__":
    main()
