"""A RecBole SASRec checkpoint as a safetensors file for `pocketrec import --layout recbole`.

    python3 scripts/torch/recbole_to_safetensors.py saved/SASRec-Dec-03-2025_10-00-00.pth \
        --out teacher.safetensors
    npx pocketrec import --from safetensors --layout recbole teacher.safetensors --out models/teacher

Run it where RecBole is installed: the checkpoint's "config" is a pickled RecBole Config, and
the item ids come from the data set RecBole builds from it
(recbole.quick_start.load_data_and_model). RecBole renumbers items (by its own order, with
"[PAD]" as 0), so dataset.field2id_token[ITEM_ID_FIELD] must travel with the weights: it is
written to __metadata__.items, the config's keys that shape the model to
__metadata__.config. The weights are the checkpoint's state_dict, names unchanged.

--state-dict-only: for a checkpoint whose config cannot be unpickled here, write only the
weights; give the config (n_heads, hidden_act, layer_norm_eps) to `pocketrec import
--config` and the ids (one a line, "[PAD]" first or not) to `--items`.
"""
import argparse
import json
import os
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from safetensors_io import save_file  # noqa: E402

CONFIG_KEYS = ["n_layers", "n_heads", "hidden_size", "inner_size", "hidden_act", "layer_norm_eps",
               "hidden_dropout_prob", "MAX_ITEM_LIST_LENGTH", "dataset", "model"]


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("checkpoint")
    parser.add_argument("--out", required=True)
    parser.add_argument("--state-dict-only", action="store_true")
    args = parser.parse_args()

    checkpoint = torch.load(args.checkpoint, map_location="cpu")
    state = checkpoint["state_dict"] if "state_dict" in checkpoint else checkpoint
    tensors = {name: t.detach().float().contiguous() for name, t in state.items()}
    if args.state_dict_only:
        save_file(tensors, args.out, {"layout": "recbole"})
        print(f"wrote {args.out}: {len(tensors)} tensors, no config or item ids")
        return

    from recbole.quick_start import load_data_and_model  # needs RecBole and its data

    config, _model, dataset, *_ = load_data_and_model(args.checkpoint)
    if config["model"] != "SASRec":
        raise SystemExit(f"{args.checkpoint} is a {config['model']}, not a SASRec")
    tokens = list(dataset.field2id_token[config["ITEM_ID_FIELD"]])
    values = {}
    for key in CONFIG_KEYS:
        try:
            values[key] = config[key]
        except KeyError:
            pass
    metadata = {
        "layout": "recbole",
        "config": json.dumps(values),
        "items": json.dumps([str(t) for t in tokens]),
        "dataset": str(config["dataset"]),
    }
    save_file(tensors, args.out, metadata)
    print(f"wrote {args.out}: {len(tensors)} tensors, {len(tokens) - 1} items")


if __name__ == "__main__":
    main()
