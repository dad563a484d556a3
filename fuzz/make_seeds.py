#!/usr/bin/env python3
"""Writes the binary seed inputs of the fuzz targets (the text seeds are committed under
fuzz/corpus/): small valid safetensors files and sealed corpus records, each as the target reads
it. Usage: make_seeds.py OUT_DIR  (creates OUT_DIR/<target>/...)."""
import json
import os
import struct
import sys

FNV_OFFSET, FNV_PRIME = 14695981039346656037, 1099511628211


def fnv1a64(data: bytes) -> int:
    h = FNV_OFFSET
    for b in data:
        h = ((h ^ b) * FNV_PRIME) & 0xFFFFFFFFFFFFFFFF
    return h


def varint(v: int) -> bytes:
    v &= 0xFFFFFFFFFFFFFFFF  # negative int32/int64 are 10-byte two's complement varints
    out = bytearray()
    while True:
        b = v & 0x7F
        v >>= 7
        if v:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def field(num: int, value) -> bytes:
    """One protobuf field: int -> varint, float -> double, bytes/str -> length-delimited,
    list of int -> packed varints. Zero / empty values are omitted, as proto3 serializes them."""
    if isinstance(value, float):
        return b"" if value == 0 else varint(num << 3 | 1) + struct.pack("<d", value)
    if isinstance(value, int):
        return b"" if value == 0 else varint(num << 3) + varint(value)
    if isinstance(value, list):
        value = b"".join(varint(v) for v in value)
    if isinstance(value, str):
        value = value.encode()
    return b"" if not value else varint(num << 3 | 2) + varint(len(value)) + value


def sealed(fields) -> bytes:
    # Checksum = FNV-1a 64 of the record serialized with checksum 0 (fields in number order).
    body = b"".join(field(n, v) for n, v in fields)
    return body + field(15, fnv1a64(body))


def safetensors(tensors, metadata=None) -> bytes:
    header, data = {}, b""
    if metadata:
        header["__metadata__"] = metadata
    for name, dtype, shape, raw in tensors:
        header[name] = {"dtype": dtype, "shape": shape, "data_offsets": [len(data), len(data) + len(raw)]}
        data += raw
    js = json.dumps(header, separators=(",", ":")).encode()
    js += b" " * (-(len(js) + 8) % 8)
    return struct.pack("<Q", len(js)) + js + data


def main() -> None:
    out = sys.argv[1]
    seeds = {
        "fuzz_safetensors_header": {
            "two_tensors": safetensors(
                [("w", "F32", [2, 2], struct.pack("<4f", 1, 2, 3, 4)), ("b", "BF16", [3], b"\x80\x3f" * 3)],
                {"format": "pt"}),
            "empty_tensor": safetensors([("e", "I64", [0, 5], b""), ("x", "U8", [1], b"\x07")]),
        },
        "fuzz_corpus_record": {},
    }
    clip = [(1, "00112233aabbccdd-0000"), (2, "00112233aabbccdd"), (3, "videos/a.mp4"), (4, 0), (5, "train"),
            (6, 17), (7, 5), (8, 64), (9, 64), (10, 8.0), (11, 0), (12, "a digit 3 moving right")]
    frame = [(1, "00112233aabbccdd-0000"), (2, 0), (3, 2), (4, 2), (5, bytes(range(12)))]
    text = [(1, "00112233aabbccdd-0000"), (2, "0123456789abcdef"), (3, [1, 57, 300, 2])]
    video = [(1, "00112233aabbccdd-0000"), (2, "tok-1"), (3, 2), (4, 2), (5, 2), (6, [0, 5, 1023, 7, 1, 2, 3, 4])]
    blob = [(1, "sentencepiece.model"), (2, b"\x0a\x03abc")]
    done = [(1, "00112233aabbccdd"), (2, "videos/a.mp4"), (3, 1), (4, 17)]
    # Byte 0 of a corpus-record input: kind in the low 3 bits; bit 3 set = re-seal before decoding.
    for kind, (name, fields) in enumerate(
            [("clip", clip), ("frame", frame), ("text_tokens", text), ("video_tokens", video), ("blob", blob),
             ("video_done", done)]):
        rec = sealed(fields)
        seeds["fuzz_corpus_record"][name] = bytes([kind]) + rec
        seeds["fuzz_corpus_record"][name + "_reseal"] = bytes([kind | 8]) + rec
    for target, files in seeds.items():
        os.makedirs(os.path.join(out, target), exist_ok=True)
        for name, data in files.items():
            with open(os.path.join(out, target, name), "wb") as f:
                f.write(data)


if __name__ == "__main__":
    main()
