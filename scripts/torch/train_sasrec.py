"""Train pocketrec's SASRec teacher with PyTorch, on one machine or many (DDP), and write it
as safetensors in the pocketrec layout for `pocketrec import --layout pocketrec`.

    torchrun --nproc_per_node 8 scripts/torch/train_sasrec.py \
        --data sequences.txt --out teacher.safetensors --dim 64 --max-len 200 --epochs 50
    torchrun --nnodes 4 --nproc_per_node 8 --rdzv_backend c10d --rdzv_endpoint host:29400 \
        scripts/torch/train_sasrec.py ...

One process per GPU (NCCL), or per CPU process (gloo) where there is none; plain `python3
train_sasrec.py ...` runs a single process. Each rank trains on its share of the users
(DistributedSampler) and DDP averages the gradients; rank 0 writes the file.

--data: one user (or session) per line, their item ids separated by whitespace, oldest
first. Items are numbered 1.. by first appearance, or in the order of --items (an id a
line: every item of the data set, those never trained on included, as
export-sequences.ts writes it); the file's __metadata__ carries the
ids in that order ("items"), the encoder's config ("config", pocketrec's architecture
names) and the data set's name ("dataset"). Each sequence's last --holdout items (default
2: pocketrec's validation and test items) are never trained on, so `pocketrec eval` on the
same data scores the imported teacher on items it has not seen.

The model is pocketrec_sasrec.SASRec: the math of pocketrec's own encoder, so the import
needs no variant fields, and `pocketrec distill --teacher` works on it as on a teacher
trained by `pocketrec train`.

--eval-dir: a folder with validation.txt and test.txt (export-sequences.ts writes them for a
user data set: a case a line, the whole input history then the target last, in --items'
ids). At the end of training rank 0 scores them with `pocketrec eval`'s protocol for a user
data set (src/eval/evaluate.ts, rank.ts, splits.ts): the query is the state of the last
--max-len items of the input, every item 1..n is ranked, the items of the whole input
history other than the target are left out, the rank is the number of the rest scored
strictly higher than the target (ties in its favour), HR@10 = rank < 10 and NDCG@10 =
1 / log2(rank + 2) when rank < 10. It prints HR@10 and NDCG@10 of both and stores them in
the file's __metadata__ ("metrics"). With --eval-every N it also scores validation every N
epochs, keeps the best epoch's weights and stops after --patience scores without a better
NDCG@10, as `pocketrec train --patience` does.

--checkpoint FILE: after every epoch rank 0 writes the model, the optimiser, the random
state, the best epoch so far and the training time spent to FILE (on a file system every
rank sees); run the same command again and it resumes after the last finished epoch, with
--time-limit counting the time already spent.
"""
import argparse
import json
import math
import os
import time

import torch
import torch.distributed as dist
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DataLoader, DistributedSampler

from pocketrec_sasrec import SASRec, pocketrec_layout
from safetensors_io import save_file


def read_sequences(path, items_path=None):
    """Histories as internal ids, and the ids in order: --items' order, else first appearance."""
    ids = {}
    if items_path:
        with open(items_path, encoding="utf-8") as f:
            for line in f:
                if line.strip():
                    ids.setdefault(line.strip(), len(ids) + 1)
    sequences = []
    with open(path, encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            tokens = line.split()
            if items_path and any(t not in ids for t in tokens):
                unknown = next(t for t in tokens if t not in ids)
                raise SystemExit(f"{path}:{n}: item {unknown!r} is not in {items_path}")
            if tokens:
                sequences.append([ids.setdefault(t, len(ids) + 1) for t in tokens])
    return sequences, list(ids)


def training_windows(sequences, max_len, holdout):
    """(inputs, targets) [users, max_len]: each user's latest trained items, left-padded."""
    inputs, targets = [], []
    for seq in sequences:
        train = seq[: len(seq) - holdout] if holdout else seq
        window = train[-(max_len + 1):]
        if len(window) < 2:
            continue
        x, y = window[:-1], window[1:]
        pad = [0] * (max_len - len(x))
        inputs.append(pad + x)
        targets.append(pad + y)
    return torch.tensor(inputs), torch.tensor(targets)


def read_cases(path, ids):
    """(histories, targets) of a cases file: a case a line, the target last."""
    histories, targets = [], []
    with open(path, encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            tokens = line.split()
            if not tokens:
                continue
            if any(t not in ids for t in tokens):
                raise SystemExit(f"{path}:{n}: an item is not in the numbering")
            case = [ids[t] for t in tokens]
            histories.append(case[:-1])
            targets.append(case[-1])
    return histories, targets


@torch.no_grad()
def evaluate(model, histories, targets, max_len, device, batch=256, cutoff=10):
    """HR@cutoff and NDCG@cutoff with pocketrec eval's full, history-masked protocol."""
    was_training = model.training
    model.eval()
    hr = ndcg = 0.0
    for start in range(0, len(histories), batch):
        chunk = histories[start:start + batch]
        x = torch.tensor([[0] * (max_len - len(h[-max_len:])) + h[-max_len:] for h in chunk],
                         device=device)
        scores = model.scores(model(x)[:, -1]).float().cpu()  # [b, n + 1], column 0 pads
        for k, history in enumerate(chunk):
            target = targets[start + k]
            row = scores[k]
            t = row[target]
            above = int((row[1:] > t).sum())
            seen = torch.tensor(sorted(set(history) - {target}), dtype=torch.long)
            if len(seen):
                above -= int((row[seen] > t).sum())
            if above < cutoff:
                hr += 1
                ndcg += 1 / math.log2(above + 2)
    model.train(was_training)
    n = len(histories)
    return {f"HR@{cutoff}": hr / n, f"NDCG@{cutoff}": ndcg / n, "cases": n}


def save_checkpoint(path, model, optimizer, best, epoch, spent, finished, cuda, device):
    """Written aside then renamed, so a kill mid-write leaves the previous epoch's file."""
    torch.save({"model": model.state_dict(), "optimizer": optimizer.state_dict(),
                "rng": torch.get_rng_state(), "cuda_rng": torch.cuda.get_rng_state(device) if cuda else None,
                "best": best, "epoch": epoch, "spent": spent, "finished": finished}, path + ".tmp")
    os.replace(path + ".tmp", path)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", required=True)
    parser.add_argument("--out", required=True)
    parser.add_argument("--items", help="every item id, one a line: the numbering (default: first appearance)")
    parser.add_argument("--dataset", help="the data set's name as pocketrec knows it")
    parser.add_argument("--dim", type=int, default=64)
    parser.add_argument("--max-len", type=int, default=200)
    parser.add_argument("--blocks", type=int, default=2)
    parser.add_argument("--heads", type=int, default=1)
    parser.add_argument("--dropout", type=float, default=0.2)
    parser.add_argument("--positions", default="from-oldest", choices=["from-oldest", "from-latest"])
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--batch", type=int, default=128, help="users per step on each rank")
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--holdout", type=int, default=2)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--eval-dir", help="validation.txt and test.txt to score at the end (export-sequences.ts)")
    parser.add_argument("--time-limit", type=float, help="seconds: no epoch starts after this much training")
    parser.add_argument("--eval-every", type=int, default=0,
                        help="epochs between validation scores (needs --eval-dir); the best epoch's weights are kept")
    parser.add_argument("--patience", type=int, default=3,
                        help="validation scores without a better NDCG@10 before training stops (with --eval-every)")
    parser.add_argument("--threads", type=int, help="torch.set_num_threads")
    parser.add_argument("--checkpoint", help="written after every epoch; rerunning with it resumes the training")
    args = parser.parse_args()

    distributed = "WORLD_SIZE" in os.environ
    cuda = torch.cuda.is_available()
    if distributed:
        dist.init_process_group("nccl" if cuda else "gloo")
        rank, world = dist.get_rank(), dist.get_world_size()
        local = int(os.environ.get("LOCAL_RANK", 0))
    else:
        rank, world, local = 0, 1, 0
    device = torch.device(f"cuda:{local}" if cuda else "cpu")
    if cuda:
        torch.cuda.set_device(device)
    if args.threads:
        torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)  # the same initial weights on every rank

    sequences, item_ids = read_sequences(args.data, args.items)
    inputs, targets = training_windows(sequences, args.max_len, args.holdout)
    model = SASRec(len(item_ids), args.dim, args.max_len, args.blocks, args.heads, args.dropout,
                   args.positions).to(device)
    trained = DistributedDataParallel(model, device_ids=[local] if cuda else None) if distributed else model
    optimizer = torch.optim.Adam(model.parameters(), lr=args.lr, betas=(0.9, 0.98))
    data = list(zip(inputs, targets))
    sampler = DistributedSampler(data, num_replicas=world, rank=rank, seed=args.seed) if distributed else None
    loader = DataLoader(data, batch_size=args.batch, sampler=sampler, shuffle=sampler is None)

    ids = {item: n for n, item in enumerate(item_ids, 1)}
    checking = rank == 0 and args.eval_dir and args.eval_every > 0
    if checking:
        validation = read_cases(os.path.join(args.eval_dir, "validation.txt"), ids)
    best = {"ndcg": -1.0, "epoch": 0, "state": None, "waited": 0}

    first, spent, finished = 0, 0.0, False
    if args.checkpoint and os.path.exists(args.checkpoint):
        saved = torch.load(args.checkpoint, map_location=device, weights_only=False)
        model.load_state_dict(saved["model"])
        optimizer.load_state_dict(saved["optimizer"])
        torch.set_rng_state(saved["rng"])
        if cuda and saved.get("cuda_rng") is not None:
            torch.cuda.set_rng_state(saved["cuda_rng"], device)
        best, first, spent, finished = saved["best"], saved["epoch"], saved["spent"], saved["finished"]
        if rank == 0:
            print(f"resumed from {args.checkpoint} after epoch {first} ({spent:.1f} s of training)", flush=True)

    began = time.time() - spent
    epochs = first
    last = first if finished else args.epochs  # a finished run resumes straight to its output
    for epoch in range(first, last):
        if args.time_limit is not None:
            stop = torch.tensor([float(time.time() - began > args.time_limit)], device=device)
            if distributed:
                dist.broadcast(stop, 0)  # rank 0's clock decides, so every rank stops together
            if stop.item():
                break
        epochs += 1
        if sampler:
            sampler.set_epoch(epoch)
        trained.train()
        total = torch.zeros(2, device=device)
        start = time.time()
        for x, y in loader:
            x, y = x.to(device), y.to(device)
            states = trained(x)
            mask = y != 0
            logits = model.scores(states[mask])[..., 1:]  # padded positions score nothing; row 0 pads
            loss = torch.nn.functional.cross_entropy(logits, y[mask] - 1)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            total += torch.stack([loss.detach() * mask.sum(), mask.sum().float()])
        if distributed:
            dist.all_reduce(total)
        if rank == 0:
            print(f"epoch {epoch + 1}: loss {(total[0] / total[1]).item():.4f} "
                  f"({time.time() - start:.1f} s, {world} ranks)", flush=True)
        stop = torch.zeros(1, device=device)
        if checking and (epoch + 1) % args.eval_every == 0:
            m = evaluate(model, *validation, args.max_len, device)
            print(f"  validation NDCG@10 {m['NDCG@10']:.4f} HR@10 {m['HR@10']:.4f}", flush=True)
            if m["NDCG@10"] > best["ndcg"]:
                best.update(ndcg=m["NDCG@10"], epoch=epoch + 1, waited=0,
                            state={k: v.detach().clone() for k, v in model.state_dict().items()})
            else:
                best["waited"] += 1
                stop[0] = float(best["waited"] >= args.patience)
        if distributed:
            dist.broadcast(stop, 0)
        if rank == 0 and args.checkpoint:
            save_checkpoint(args.checkpoint, model, optimizer, best, epoch + 1, time.time() - began,
                            bool(stop.item()), cuda, device)
        if stop.item():
            break

    if rank == 0:
        print(f"trained {epochs} epochs in {time.time() - began:.1f} s", flush=True)
    if best["state"] is not None:
        model.load_state_dict(best["state"])  # the best validation epoch, as pocketrec train keeps
        print(f"kept epoch {best['epoch']} (validation NDCG@10 {best['ndcg']:.4f})", flush=True)
    metrics = None
    if rank == 0 and args.eval_dir:
        metrics = {}
        for split in ("validation", "test"):
            start = time.time()
            histories, targets = read_cases(os.path.join(args.eval_dir, f"{split}.txt"), ids)
            metrics[split] = evaluate(model, histories, targets, args.max_len, device)
            m = metrics[split]
            print(f"{split}: HR@10 {m['HR@10']:.4f} NDCG@10 {m['NDCG@10']:.4f} "
                  f"({m['cases']} cases, {time.time() - start:.1f} s)", flush=True)

    if rank == 0:
        metadata = {
            "layout": "pocketrec",
            "config": json.dumps(model.config),
            "items": json.dumps(item_ids),
            "dataset": args.dataset or os.path.basename(args.data),
            "trainer": json.dumps({"script": "scripts/torch/train_sasrec.py", "ranks": world,
                                   "epochs": epochs, "kept_epoch": best["epoch"] or epochs, "batch": args.batch, "lr": args.lr,
                                   "holdout": args.holdout, "seed": args.seed}),
        }
        if metrics:
            metadata["metrics"] = json.dumps(metrics)
        save_file(pocketrec_layout(model.cpu()), args.out, metadata)
        print(f"wrote {args.out}: {len(item_ids)} items, {sum(p.numel() for p in model.parameters())} weights")
    if distributed:
        dist.destroy_process_group()


if __name__ == "__main__":
    main()
