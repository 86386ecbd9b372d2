"""RecBole's SASRec, as a minimal module: the same parameter names and the same math.

Written from RecBole's recbole/model/sequential_recommender/sasrec.py and
recbole/model/layers.py (TransformerEncoder, MultiHeadAttention, FeedForward), so that
fixtures made here have exactly the state_dict layout of a RecBole checkpoint
("state_dict" in the saved file) and the outputs RecBole's forward() gives, without
installing RecBole. What `pocketrec import --layout recbole` relies on:

- item_embedding [n_items, hidden]: row 0 is RecBole's padding token "[PAD]"; rows follow
  RecBole's own numbering (dataset.field2id_token["item_id"]), not the raw item ids;
- position_embedding [MAX_ITEM_LIST_LENGTH, hidden]: position 0 is the oldest item (RecBole
  pads sequences on the right and reads the state at item_seq_len - 1);
- LayerNorm on item + position vectors (no sqrt(hidden) scaling), then dropout;
- each layer post-LayerNorm: LN(x + dense(attention(x))), then LN(h + dense_2(act(dense_1(h))));
  attention scores / sqrt(head size), an additive mask of -10000 on future and padding keys;
- hidden_act "gelu" is x * 0.5 * (1 + erf(x / sqrt(2))); layer_norm_eps defaults to 1e-12;
- no LayerNorm after the last layer; scores are the state times item_embedding.weight^T.
"""
import math

import torch
from torch import nn


class MultiHeadAttention(nn.Module):
    def __init__(self, n_heads, hidden_size, hidden_dropout_prob, attn_dropout_prob, layer_norm_eps):
        super().__init__()
        if hidden_size % n_heads != 0:
            raise ValueError(f"hidden size {hidden_size} is not a multiple of {n_heads} heads")
        self.num_attention_heads = n_heads
        self.attention_head_size = hidden_size // n_heads
        self.query = nn.Linear(hidden_size, hidden_size)
        self.key = nn.Linear(hidden_size, hidden_size)
        self.value = nn.Linear(hidden_size, hidden_size)
        self.attn_dropout = nn.Dropout(attn_dropout_prob)
        self.dense = nn.Linear(hidden_size, hidden_size)
        self.LayerNorm = nn.LayerNorm(hidden_size, eps=layer_norm_eps)
        self.out_dropout = nn.Dropout(hidden_dropout_prob)

    def _heads(self, x):
        batch, length, _ = x.shape
        return x.view(batch, length, self.num_attention_heads, self.attention_head_size).permute(
            0, 2, 1, 3
        )

    def forward(self, input_tensor, attention_mask):
        q = self._heads(self.query(input_tensor))
        k = self._heads(self.key(input_tensor))
        v = self._heads(self.value(input_tensor))
        scores = torch.matmul(q, k.transpose(-1, -2)) / math.sqrt(self.attention_head_size)
        probs = self.attn_dropout(torch.softmax(scores + attention_mask, dim=-1))
        context = torch.matmul(probs, v).permute(0, 2, 1, 3).contiguous()
        context = context.view(context.shape[0], context.shape[1], -1)
        return self.LayerNorm(self.out_dropout(self.dense(context)) + input_tensor)


def _gelu(x):
    return x * 0.5 * (1.0 + torch.erf(x / math.sqrt(2.0)))


class FeedForward(nn.Module):
    ACTIVATIONS = {"gelu": _gelu, "relu": torch.relu}

    def __init__(self, hidden_size, inner_size, hidden_dropout_prob, hidden_act, layer_norm_eps):
        super().__init__()
        if hidden_act not in self.ACTIVATIONS:
            raise ValueError(f"hidden_act {hidden_act!r}: this module has gelu and relu")
        self.dense_1 = nn.Linear(hidden_size, inner_size)
        self.act = self.ACTIVATIONS[hidden_act]
        self.dense_2 = nn.Linear(inner_size, hidden_size)
        self.LayerNorm = nn.LayerNorm(hidden_size, eps=layer_norm_eps)
        self.dropout = nn.Dropout(hidden_dropout_prob)

    def forward(self, x):
        return self.LayerNorm(self.dropout(self.dense_2(self.act(self.dense_1(x)))) + x)


class TransformerLayer(nn.Module):
    def __init__(self, n_heads, hidden_size, inner_size, hidden_dropout_prob, attn_dropout_prob,
                 hidden_act, layer_norm_eps):
        super().__init__()
        self.multi_head_attention = MultiHeadAttention(
            n_heads, hidden_size, hidden_dropout_prob, attn_dropout_prob, layer_norm_eps
        )
        self.feed_forward = FeedForward(
            hidden_size, inner_size, hidden_dropout_prob, hidden_act, layer_norm_eps
        )

    def forward(self, x, attention_mask):
        return self.feed_forward(self.multi_head_attention(x, attention_mask))


class TransformerEncoder(nn.Module):
    def __init__(self, n_layers, **layer):
        super().__init__()
        self.layer = nn.ModuleList([TransformerLayer(**layer) for _ in range(n_layers)])

    def forward(self, x, attention_mask):
        for layer in self.layer:
            x = layer(x, attention_mask)
        return x


class SASRec(nn.Module):
    def __init__(self, n_items, max_seq_length, n_layers=2, n_heads=2, hidden_size=64,
                 inner_size=256, hidden_dropout_prob=0.5, attn_dropout_prob=0.5, hidden_act="gelu",
                 layer_norm_eps=1e-12, initializer_range=0.02):
        super().__init__()
        self.config = {
            "n_layers": n_layers,
            "n_heads": n_heads,
            "hidden_size": hidden_size,
            "inner_size": inner_size,
            "hidden_act": hidden_act,
            "layer_norm_eps": layer_norm_eps,
            "MAX_ITEM_LIST_LENGTH": max_seq_length,
        }
        self.item_embedding = nn.Embedding(n_items, hidden_size, padding_idx=0)
        self.position_embedding = nn.Embedding(max_seq_length, hidden_size)
        self.trm_encoder = TransformerEncoder(
            n_layers,
            n_heads=n_heads,
            hidden_size=hidden_size,
            inner_size=inner_size,
            hidden_dropout_prob=hidden_dropout_prob,
            attn_dropout_prob=attn_dropout_prob,
            hidden_act=hidden_act,
            layer_norm_eps=layer_norm_eps,
        )
        self.LayerNorm = nn.LayerNorm(hidden_size, eps=layer_norm_eps)
        self.dropout = nn.Dropout(hidden_dropout_prob)
        # RecBole's initialisation: N(0, initializer_range) for every Linear and Embedding
        # weight (the padding row included), zero biases, unit LayerNorms.
        for module in self.modules():
            if isinstance(module, (nn.Linear, nn.Embedding)):
                module.weight.data.normal_(0.0, initializer_range)
            if isinstance(module, nn.Linear):
                module.bias.data.zero_()

    def forward(self, item_seq, item_seq_len):
        """item_seq [batch, length] right-padded with 0; the state at item_seq_len - 1."""
        length = item_seq.shape[1]
        positions = torch.arange(length, device=item_seq.device).unsqueeze(0).expand_as(item_seq)
        x = self.item_embedding(item_seq) + self.position_embedding(positions)
        x = self.dropout(self.LayerNorm(x))
        visible = (item_seq != 0).unsqueeze(1).unsqueeze(2).expand(-1, -1, length, -1)
        visible = torch.tril(visible)
        mask = torch.where(visible, 0.0, -10000.0)
        out = self.trm_encoder(x, mask)
        index = (item_seq_len - 1).view(-1, 1, 1).expand(-1, -1, out.shape[-1])
        return out.gather(dim=1, index=index).squeeze(1)

    def scores(self, state):
        return state @ self.item_embedding.weight.t()


def right_padded(histories, max_len):
    """RecBole's input: each history's latest max_len items from column 0, zeros after."""
    cut = [h[-max_len:] for h in histories]
    seq = torch.zeros(len(cut), max(len(h) for h in cut), dtype=torch.long)
    for row, h in enumerate(cut):
        seq[row, : len(h)] = torch.tensor(h)
    return seq, torch.tensor([len(h) for h in cut])
