"""A pmixer SASRec.pytorch checkpoint as a safetensors file for `pocketrec import --layout pmixer`.

    python3 scripts/torch/pmixer_to_safetensors.py \
        ml-1m_default/SASRec.epoch=1000.lr=0.001.layer=2.head=1.hidden=50.maxlen=200.pth \
        --out teacher.safetensors
    npx pocketrec import --from safetensors --layout pmixer teacher.safetensors --out models/teacher

pmixer's main.py saves the bare state_dict and, beside it in the same directory, args.txt
(one "key,value" a line): the converter reads args.txt for the model's config (num_heads,
norm_first, hidden_units, num_blocks, maxlen, dropout_rate, dataset) and writes it to
__metadata__.config. Its items are the integers of its data file (python/data/*.txt), so no
id list is needed; --items <file> (one id a line, in pmixer's numbering 1..n) writes one,
for data whose integers stand for other ids.
--no-metadata writes the weights alone (then give `pocketrec import` a --config).
"""
import argparse
import json
import os
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from safetensors_io import save_file  # noqa: E402

CONFIG_KEYS = ["num_heads", "norm_first", "hidden_units", "num_blocks", "maxlen", "dropout_rate", "dataset"]


def read_args(path):
    values = {}
    with open(path, encoding="utf-8") as f:
        for line in f:
            key, _, value = line.rstrip("\n").partition(",")
            if key in CONFIG_KEYS:
                values[key] = value
    return values


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("checkpoint")
    parser.add_argument("--out", required=True)
    parser.add_argument("--args", help="pmixer's args.txt (default: beside the checkpoint)")
    parser.add_argument("--items", help="one id a line for items 1..n")
    parser.add_argument("--no-metadata", action="store_true")
    args = parser.parse_args()

    state = torch.load(args.checkpoint, map_location="cpu")
    tensors = {name: t.detach().float().contiguous() for name, t in state.items()}
    if args.no_metadata:
        save_file(tensors, args.out)
        print(f"wrote {args.out}: {len(tensors)} tensors, no metadata")
        return
    config = read_args(args.args or os.path.join(os.path.dirname(args.checkpoint), "args.txt"))
    metadata = {"layout": "pmixer", "config": json.dumps(config)}
    if "dataset" in config:
        metadata["dataset"] = config["dataset"]
    if args.items:
        with open(args.items, encoding="utf-8") as f:
            metadata["items"] = json.dumps([line.rstrip("\r\n") for line in f if line.strip()])
    save_file(tensors, args.out, metadata)
    print(f"wrote {args.out}: {len(tensors)} tensors")


if __name__ == "__main__":
    main()
