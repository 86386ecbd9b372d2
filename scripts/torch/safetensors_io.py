"""Safetensors by hand: the `safetensors` package is not needed (nor always installable).

A file is a little-endian u64 header length N, N bytes of JSON (each tensor's dtype, shape
and [begin, end) offsets into the data that follows; an optional "__metadata__" object of
strings), then the tensors' raw little-endian bytes, back to back. The header is padded
with spaces to a multiple of 8 bytes so the data starts aligned.
"""
import json
import struct

import numpy as np
import torch

_DTYPES = {
    torch.float64: "F64",
    torch.float32: "F32",
    torch.float16: "F16",
    torch.bfloat16: "BF16",
    torch.int64: "I64",
    torch.int32: "I32",
    torch.int16: "I16",
    torch.int8: "I8",
    torch.uint8: "U8",
    torch.bool: "BOOL",
}
_NUMPY = {
    "F64": "<f8",
    "F32": "<f4",
    "F16": "<f2",
    "I64": "<i8",
    "I32": "<i4",
    "I16": "<i2",
    "I8": "i1",
    "U8": "u1",
    "BOOL": "?",
}


def _raw(t):
    t = t.detach().cpu().contiguous()
    if t.dtype == torch.bfloat16:
        # numpy has no bfloat16: its bits are the top half of a float32.
        return t.view(torch.int16).numpy().astype("<i2").tobytes()
    return t.numpy().astype(_NUMPY[_DTYPES[t.dtype]]).tobytes()


def save_file(tensors, path, metadata=None):
    """Writes `tensors` (name -> torch.Tensor, in this order) and string `metadata`."""
    header = {}
    if metadata:
        header["__metadata__"] = {str(k): str(v) for k, v in metadata.items()}
    blobs = []
    offset = 0
    for name, t in tensors.items():
        if t.dtype not in _DTYPES:
            raise ValueError(f"{name}: dtype {t.dtype} has no safetensors name here")
        raw = _raw(t)
        header[name] = {
            "dtype": _DTYPES[t.dtype],
            "shape": list(t.shape),
            "data_offsets": [offset, offset + len(raw)],
        }
        blobs.append(raw)
        offset += len(raw)
    text = json.dumps(header, separators=(",", ":")).encode("utf-8")
    text += b" " * (-len(text) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)))
        f.write(text)
        for raw in blobs:
            f.write(raw)


def load_file(path):
    """(tensors, metadata) of a file this module (or any safetensors writer) wrote."""
    with open(path, "rb") as f:
        data = f.read()
    (n,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8 : 8 + n].decode("utf-8"))
    metadata = header.pop("__metadata__", {})
    tensors = {}
    for name, entry in header.items():
        begin, end = entry["data_offsets"]
        raw = data[8 + n + begin : 8 + n + end]
        if entry["dtype"] == "BF16":
            bits = np.frombuffer(raw, dtype="<i2").copy()
            t = torch.from_numpy(bits).view(torch.bfloat16)
        else:
            t = torch.from_numpy(np.frombuffer(raw, dtype=_NUMPY[entry["dtype"]]).copy())
        tensors[name] = t.reshape(entry["shape"])
    return tensors, metadata
