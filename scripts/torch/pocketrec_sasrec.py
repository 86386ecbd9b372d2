"""pocketrec's SASRec encoder in PyTorch, with the tensor names of a pocketrec package.

The math of src/model/sasrec.ts `encode` with no encoder-variant field set: pre-LayerNorm
blocks (eps 1e-6), item vectors times sqrt(dim) plus a learned position per item, positions
counted from the oldest item of the window ("from-oldest") or from the latest
("from-latest"), a causal mask that hides padding keys, padding rows zero after every block,
a ReLU feed-forward of width dim, a final LayerNorm; the query is the last position's state
and an item's score its dot product with the item's row of the table.

`pocketrec_layout()` gives the tensors under the package's names, each Linear's weight
[out, in] transposed to the package's kernel [in, out]: what train_sasrec.py writes and
`pocketrec import --layout pocketrec` reads without any renaming.
"""
import math

import torch
from torch import nn

EPS = 1e-6
TABLE = "items.table"


class Attention(nn.Module):
    def __init__(self, dim, heads):
        super().__init__()
        self.heads = heads
        self.query = nn.Linear(dim, dim)
        self.key = nn.Linear(dim, dim)
        self.value = nn.Linear(dim, dim)
        self.output = nn.Linear(dim, dim)

    def forward(self, h, bias, dropout):
        batch, length, dim = h.shape

        def split(t):
            return t.view(batch, length, self.heads, dim // self.heads).transpose(1, 2)

        q, k, v = split(self.query(h)), split(self.key(h)), split(self.value(h))
        scores = q @ k.transpose(-1, -2) / math.sqrt(dim / self.heads) + bias
        context = dropout(torch.softmax(scores, dim=-1)) @ v
        return self.output(context.transpose(1, 2).reshape(batch, length, dim))


class FeedForward(nn.Module):
    def __init__(self, dim):
        super().__init__()
        self.inner = nn.Linear(dim, dim)
        self.outer = nn.Linear(dim, dim)


class Block(nn.Module):
    def __init__(self, dim, heads):
        super().__init__()
        self.norm1 = nn.LayerNorm(dim, eps=EPS)
        self.attention = Attention(dim, heads)
        self.norm2 = nn.LayerNorm(dim, eps=EPS)
        self.ffn = FeedForward(dim)

    def forward(self, x, bias, keep, dropout):
        x = x + dropout(self.attention(self.norm1(x), bias, dropout))
        inner = dropout(torch.relu(self.ffn.inner(self.norm2(x))))
        x = x + dropout(self.ffn.outer(inner))
        return x * keep


class SASRec(nn.Module):
    def __init__(self, num_items, dim=64, max_len=200, blocks=2, heads=1, dropout=0.2,
                 positions="from-oldest"):
        super().__init__()
        if positions not in ("from-oldest", "from-latest"):
            raise ValueError(f"positions {positions!r}: from-oldest or from-latest")
        self.config = {
            "numItems": num_items,
            "dim": dim,
            "maxLen": max_len,
            "blocks": blocks,
            "heads": heads,
            "dropout": dropout,
            "positions": positions,
            "readout": "last",
        }
        self.items = nn.Embedding(num_items + 1, dim)
        self.positions = nn.Parameter(torch.randn(max_len, dim) * 0.02)
        self.blocks = nn.ModuleList([Block(dim, heads) for _ in range(blocks)])
        self.norm = nn.LayerNorm(dim, eps=EPS)
        self.drop = nn.Dropout(dropout)
        nn.init.normal_(self.items.weight, 0.0, 1.0 / math.sqrt(dim))
        for module in self.modules():
            if isinstance(module, nn.Linear):
                nn.init.xavier_uniform_(module.weight)
                nn.init.zeros_(module.bias)

    def position_ids(self, ids):
        if self.config["positions"] == "from-latest":
            length = ids.shape[1]
            return torch.arange(length - 1, -1, -1, device=ids.device).expand_as(ids)
        return (torch.cumsum((ids != 0).long(), dim=1) - 1).clamp(min=0)

    def forward(self, ids):
        """ids [batch, length], left-padded with 0: the states [batch, length, dim]."""
        dim = self.config["dim"]
        length = ids.shape[1]
        keep = (ids != 0).float().unsqueeze(-1)
        x = self.items(ids) * math.sqrt(dim) + self.positions[self.position_ids(ids)]
        x = self.drop(x) * keep
        causal = torch.tril(torch.ones(length, length, device=ids.device))
        visible = causal.view(1, 1, length, length) * keep.view(-1, 1, 1, length)
        bias = (visible - 1) * 1e9
        for block in self.blocks:
            x = block(x, bias, keep, self.drop)
        return self.norm(x) * keep

    def scores(self, state):
        return state @ self.items.weight.t()


def pocketrec_layout(model):
    """name -> tensor under the package's names (Linear weights transposed to kernels)."""
    out = {"positions": model.positions.detach()}
    for b, block in enumerate(model.blocks):
        p = f"blocks.{b}"
        out[f"{p}.norm1.gamma"] = block.norm1.weight
        out[f"{p}.norm1.beta"] = block.norm1.bias
        for name in ("query", "key", "value", "output"):
            linear = getattr(block.attention, name)
            out[f"{p}.attention.{name}.kernel"] = linear.weight.t()
            out[f"{p}.attention.{name}.bias"] = linear.bias
        out[f"{p}.norm2.gamma"] = block.norm2.weight
        out[f"{p}.norm2.beta"] = block.norm2.bias
        for name in ("inner", "outer"):
            linear = getattr(block.ffn, name)
            out[f"{p}.ffn.{name}.kernel"] = linear.weight.t()
            out[f"{p}.ffn.{name}.bias"] = linear.bias
    out["norm.gamma"] = model.norm.weight
    out["norm.beta"] = model.norm.bias
    out[TABLE] = model.items.weight
    return {k: v.detach().float().contiguous() for k, v in out.items()}


def load_pocketrec_layout(model, tensors):
    """The inverse of pocketrec_layout: a model's weights from a file's tensors."""
    with torch.no_grad():
        model.positions.copy_(tensors["positions"])
        model.items.weight.copy_(tensors[TABLE])
        model.norm.weight.copy_(tensors["norm.gamma"])
        model.norm.bias.copy_(tensors["norm.beta"])
        for b, block in enumerate(model.blocks):
            p = f"blocks.{b}"
            for norm in ("norm1", "norm2"):
                getattr(block, norm).weight.copy_(tensors[f"{p}.{norm}.gamma"])
                getattr(block, norm).bias.copy_(tensors[f"{p}.{norm}.beta"])
            for part, names in (("attention", ("query", "key", "value", "output")),
                                ("ffn", ("inner", "outer"))):
                for name in names:
                    linear = getattr(getattr(block, part), name)
                    linear.weight.copy_(tensors[f"{p}.{part}.{name}.kernel"].t())
                    linear.bias.copy_(tensors[f"{p}.{part}.{name}.bias"])


def left_padded(histories, max_len):
    """Each history's latest max_len items at the right of its row, zeros before."""
    cut = [h[-max_len:] for h in histories]
    width = max(len(h) for h in cut)
    ids = torch.zeros(len(cut), width, dtype=torch.long)
    for row, h in enumerate(cut):
        ids[row, width - len(h):] = torch.tensor(h)
    return ids
