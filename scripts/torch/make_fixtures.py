"""Makes the import fixtures of test/fixtures/import/ (run from the repository root):

    /usr/bin/python3 scripts/torch/make_fixtures.py [--out test/fixtures/import]

Three tiny teachers, each trained briefly on synthetic sessions (a Markov walk over the
items, so that scores are spread and a top-10 is not a coin toss) and written as a
safetensors file in its source's layout:

- recbole.safetensors: recbole_sasrec.SASRec's state_dict under RecBole's names, with the
  __metadata__ recbole_to_safetensors.py writes (its config, and the item tokens of
  field2id_token in RecBole's own numbering, which is not the tokens' order);
- pmixer.safetensors: pmixer_sasrec.SASRec's state_dict (post-LayerNorm, its default), no
  metadata, as a bare checkpoint converted with --no-metadata would be; its config
  beside it in pmixer.config.json, its items the integers 1..N;
- pocketrec.safetensors: written by train_sasrec.py run under torchrun with 2 ranks (gloo).

And for each, <name>.expected.json: 32 sessions (external item ids; lengths 1, short,
exactly maxLen and longer), the source's hidden state at each session's last position
and its top 10 items (row 0, padding, left out), and the smallest score gap among each
session's 11 best (so a parity test knows how close an order was).
"""
import argparse
import json
import os
import random
import subprocess
import sys
import tempfile

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import pmixer_sasrec  # noqa: E402
import pocketrec_sasrec  # noqa: E402
import recbole_sasrec  # noqa: E402
from safetensors_io import load_file, save_file  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))


def markov_sessions(num_items, users, rng, min_len=4, max_len=30):
    """Sessions over items 1..num_items: each item has three likely successors."""
    successors = {i: rng.sample(range(1, num_items + 1), 3) for i in range(1, num_items + 1)}
    out = []
    for _ in range(users):
        item = rng.randint(1, num_items)
        seq = [item]
        for _ in range(rng.randint(min_len, max_len) - 1):
            item = rng.choice(successors[item]) if rng.random() < 0.8 else rng.randint(1, num_items)
            seq.append(item)
        out.append(seq)
    # Every item at least once, so that every row is trained and every id is in the data.
    out.append(list(range(1, num_items + 1)))
    return out


def random_cuts(sessions, batch, rng, max_len):
    """(history, next item) pairs: a random prefix of random sessions."""
    pairs = []
    for _ in range(batch):
        seq = rng.choice(sessions)
        t = rng.randint(1, len(seq) - 1)
        pairs.append((seq[max(0, t - max_len):t], seq[t]))
    return pairs


def test_sessions(sessions, max_len, rng, score_gap):
    """32 sessions: 4 of length 1, 10 short (2..5), 8 of exactly max_len, 10 longer; each
    drawn again until the gaps among its 11 best scores are all above 1e-4."""
    lengths = [1] * 4 + [2, 3, 4, 5] * 2 + [3, 4] + [max_len] * 8 + list(range(max_len + 1, max_len + 11))
    out = []
    for length in lengths:
        for _ in range(1000):
            source = rng.choice([s for s in sessions if len(s) >= length] or [max(sessions, key=len)])
            start = rng.randint(0, max(0, len(source) - length))
            history = source[start:start + length]
            while len(history) < length:  # longer than any session: walk on at random
                history.append(rng.randint(1, max(max(s) for s in sessions)))
            if score_gap(history) > 1e-4:
                break
        out.append(history)
    return out


def top_gap(scores):
    """Smallest difference among the 11 best scores (row 0 left out)."""
    best = torch.sort(scores[1:], descending=True).values[:11]
    return float((best[:-1] - best[1:]).min())


def top10(scores):
    return [int(i) + 1 for i in torch.argsort(scores[1:], descending=True)[:10]]


def expected_json(sessions, hidden, scores, ids, extra):
    return {
        **extra,
        "sessions": [[ids[i] for i in s] for s in sessions],
        "hidden": [[float(f"{v:.9g}") for v in h.tolist()] for h in hidden],
        "top10": [[ids[i] for i in top10(s)] for s in scores],
        "minGap": min(top_gap(s) for s in scores),
    }


def write_json(path, value):
    with open(path, "w", encoding="utf-8") as f:
        json.dump(value, f, separators=(",", ":"))
        f.write("\n")


def train(model, loss_of, steps, lr):
    optimizer = torch.optim.Adam(model.parameters(), lr=lr, betas=(0.9, 0.98))
    model.train()
    for _ in range(steps):
        loss = loss_of()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    model.eval()
    return float(loss)


def recbole_fixture(out, rng):
    num_items, max_len = 120, 12
    sessions = markov_sessions(num_items, 200, rng)
    model = recbole_sasrec.SASRec(num_items + 1, max_len, n_layers=2, n_heads=2, hidden_size=16,
                                  inner_size=48, hidden_dropout_prob=0.1, attn_dropout_prob=0.1,
                                  hidden_act="gelu", layer_norm_eps=1e-12)

    def loss_of():
        pairs = random_cuts(sessions, 64, rng, max_len)
        seq, lengths = recbole_sasrec.right_padded([h for h, _ in pairs], max_len)
        logits = model.scores(model(seq, lengths))
        return torch.nn.functional.cross_entropy(logits, torch.tensor([t for _, t in pairs]))

    loss = train(model, loss_of, 400, 3e-3)
    # RecBole numbers items its own way: field2id_token[i] is internal item i's raw token.
    tokens = ["[PAD]"] + [f"sku-{n}" for n in rng.sample(range(1000, 9999), num_items)]

    def run(histories):
        with torch.no_grad():
            seq, lengths = recbole_sasrec.right_padded(histories, max_len)
            state = model(seq, lengths)
            return state, model.scores(state)

    tests = test_sessions(sessions, max_len, rng, lambda h: top_gap(run([h])[1][0]))
    hidden, scores = run(tests)
    metadata = {
        "layout": "recbole",
        "model": "SASRec",
        "config": json.dumps({**model.config, "dataset": "recbole-fixture"}),
        "items": json.dumps(tokens[1:]),
    }
    save_file(dict(model.state_dict()), os.path.join(out, "recbole.safetensors"), metadata)
    write_json(os.path.join(out, "recbole.expected.json"),
               expected_json(tests, hidden, scores, tokens, {"layout": "recbole", "maxLen": max_len, "trainLoss": loss}))


def pmixer_fixture(out, rng):
    num_items, max_len = 60, 10
    sessions = markov_sessions(num_items, 150, rng)
    model = pmixer_sasrec.SASRec(num_items, max_len, hidden_units=16, num_blocks=2, num_heads=2,
                                 dropout_rate=0.1, norm_first=False)

    def loss_of():
        pairs = random_cuts(sessions, 64, rng, max_len)
        seq = pmixer_sasrec.left_padded([h for h, _ in pairs], max_len)
        # Padding's row never scored, so never trained: pmixer's loss reads item_emb only
        # through lookups of real items, and its row 0 stays the zero it starts as.
        logits = model.scores(model.log2feats(seq)[:, -1, :])[:, 1:]
        return torch.nn.functional.cross_entropy(logits, torch.tensor([t - 1 for _, t in pairs]))

    loss = train(model, loss_of, 400, 3e-3)
    ids = [str(i) for i in range(num_items + 1)]

    def run(histories):
        with torch.no_grad():
            state = model.log2feats(pmixer_sasrec.left_padded(histories, max_len))[:, -1, :]
            return state, model.scores(state)

    tests = test_sessions(sessions, max_len, rng, lambda h: top_gap(run([h])[1][0]))
    hidden, scores = run(tests)
    save_file(dict(model.state_dict()), os.path.join(out, "pmixer.safetensors"))
    # main.py's args.txt, as pmixer_to_safetensors.py reads it, the model's own fields only.
    write_json(os.path.join(out, "pmixer.config.json"), {**model.config, "dataset": "pmixer-fixture"})
    write_json(os.path.join(out, "pmixer.expected.json"),
               expected_json(tests, hidden, scores, ids, {"layout": "pmixer", "maxLen": max_len, "trainLoss": loss}))


def pocketrec_fixture(out, rng):
    num_items, max_len = 80, 10
    sessions = markov_sessions(num_items, 160, rng)
    path = os.path.join(out, "pocketrec.safetensors")
    with tempfile.TemporaryDirectory() as tmp:
        data = os.path.join(tmp, "sessions.txt")
        with open(data, "w", encoding="utf-8") as f:
            for s in sessions:
                f.write(" ".join(f"p{i}" for i in s) + "\n")
        # Two ranks under torchrun (gloo on CPU): the DDP path the script is for. Debian's
        # torch 1.13 on Python 3.11 parses torchrun's default --redirects/--tee "0" as None
        # and stops; a map naming no real rank means "none" for every rank there.
        subprocess.run(
            ["torchrun", "--standalone", "--nproc_per_node", "2", "--redirects", "9:1", "--tee", "9:1",
             os.path.join(HERE, "train_sasrec.py"),
             "--data", data, "--out", path, "--dataset", "pocketrec-fixture", "--dim", "16",
             "--max-len", str(max_len), "--blocks", "2", "--heads", "2", "--dropout", "0.1",
             "--epochs", "40", "--batch", "32", "--lr", "3e-3", "--holdout", "0"],
            check=True,
        )
    tensors, metadata = load_file(path)
    config = json.loads(metadata["config"])
    ids = ["<pad>"] + json.loads(metadata["items"])
    internal = {token: i for i, token in enumerate(ids)}
    model = pocketrec_sasrec.SASRec(config["numItems"], config["dim"], config["maxLen"],
                                    config["blocks"], config["heads"], config["dropout"],
                                    config["positions"])
    pocketrec_sasrec.load_pocketrec_layout(model, tensors)
    model.eval()
    sessions = [[internal[f"p{i}"] for i in s] for s in sessions]

    def run(histories):
        with torch.no_grad():
            state = model(pocketrec_sasrec.left_padded(histories, max_len))[:, -1, :]
            return state, model.scores(state)

    tests = test_sessions(sessions, max_len, rng, lambda h: top_gap(run([h])[1][0]))
    hidden, scores = run(tests)
    write_json(os.path.join(out, "pocketrec.expected.json"),
               expected_json(tests, hidden, scores, ids, {"layout": "pocketrec", "maxLen": max_len}))


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--out", default="test/fixtures/import")
    parser.add_argument("--only", choices=["recbole", "pmixer", "pocketrec"])
    args = parser.parse_args()
    os.makedirs(args.out, exist_ok=True)
    torch.set_num_threads(1)
    for name, make in (("recbole", recbole_fixture), ("pmixer", pmixer_fixture),
                       ("pocketrec", pocketrec_fixture)):
        if args.only in (None, name):
            torch.manual_seed(23)
            make(args.out, random.Random(f"{name}-23"))
            print(f"wrote {name} fixture to {args.out}", flush=True)


if __name__ == "__main__":
    main()
