"""pmixer's SASRec.pytorch (python/model.py), as a minimal module: the same parameter names
and the same math, so that fixtures made here have exactly the state_dict layout of a
checkpoint its main.py saves (torch.save(model.state_dict(), ...)) and the outputs of its
log2feats(). What `pocketrec import --layout pmixer` relies on:

- item_emb [item_num + 1, hidden]: the data file's integer ids, row 0 padding (zero);
- pos_emb [maxlen + 1, hidden]: column c of the maxlen-wide, left-padded window is position
  c + 1, padding position 0 (zero), so the latest item is always position maxlen;
- item vectors times sqrt(hidden), no embedding LayerNorm;
- torch.nn.MultiheadAttention (in_proj_weight [3 hidden, hidden] = query, key, value rows;
  out_proj), a causal mask only: padding positions stay keys;
- the feed-forward is two Conv1d(hidden, hidden, kernel_size=1) with a ReLU between;
- norm_first (its --norm_first flag): pre-LayerNorm, x + f(LN(x)); default post-LayerNorm,
  LN(x + f(x)); LayerNorms' eps 1e-8, and last_layernorm after the last block.
"""
import torch


class PointWiseFeedForward(torch.nn.Module):
    def __init__(self, hidden_units, dropout_rate):
        super().__init__()
        self.conv1 = torch.nn.Conv1d(hidden_units, hidden_units, kernel_size=1)
        self.dropout1 = torch.nn.Dropout(p=dropout_rate)
        self.relu = torch.nn.ReLU()
        self.conv2 = torch.nn.Conv1d(hidden_units, hidden_units, kernel_size=1)
        self.dropout2 = torch.nn.Dropout(p=dropout_rate)

    def forward(self, x):
        # Conv1d wants (batch, channels, length).
        h = self.conv1(x.transpose(-1, -2))
        h = self.dropout2(self.conv2(self.relu(self.dropout1(h))))
        return h.transpose(-1, -2)


class SASRec(torch.nn.Module):
    def __init__(self, item_num, maxlen, hidden_units=50, num_blocks=2, num_heads=1,
                 dropout_rate=0.2, norm_first=False):
        super().__init__()
        self.config = {
            "maxlen": maxlen,
            "hidden_units": hidden_units,
            "num_blocks": num_blocks,
            "num_heads": num_heads,
            "norm_first": norm_first,
        }
        self.norm_first = norm_first
        self.item_emb = torch.nn.Embedding(item_num + 1, hidden_units, padding_idx=0)
        self.pos_emb = torch.nn.Embedding(maxlen + 1, hidden_units, padding_idx=0)
        self.emb_dropout = torch.nn.Dropout(p=dropout_rate)
        self.attention_layernorms = torch.nn.ModuleList()
        self.attention_layers = torch.nn.ModuleList()
        self.forward_layernorms = torch.nn.ModuleList()
        self.forward_layers = torch.nn.ModuleList()
        self.last_layernorm = torch.nn.LayerNorm(hidden_units, eps=1e-8)
        for _ in range(num_blocks):
            self.attention_layernorms.append(torch.nn.LayerNorm(hidden_units, eps=1e-8))
            self.attention_layers.append(
                torch.nn.MultiheadAttention(hidden_units, num_heads, dropout_rate)
            )
            self.forward_layernorms.append(torch.nn.LayerNorm(hidden_units, eps=1e-8))
            self.forward_layers.append(PointWiseFeedForward(hidden_units, dropout_rate))
        # main.py: Xavier-normal for every parameter that takes it, then zero padding rows.
        for param in self.parameters():
            if param.dim() > 1:
                torch.nn.init.xavier_normal_(param.data)
        self.pos_emb.weight.data[0, :] = 0
        self.item_emb.weight.data[0, :] = 0

    def log2feats(self, log_seqs):
        """log_seqs [batch, maxlen], left-padded with 0: the states at every column."""
        seqs = self.item_emb(log_seqs) * self.item_emb.embedding_dim ** 0.5
        length = log_seqs.shape[1]
        poss = torch.arange(1, length + 1, device=log_seqs.device).unsqueeze(0) * (log_seqs != 0)
        seqs = self.emb_dropout(seqs + self.pos_emb(poss))
        causal = ~torch.tril(torch.ones((length, length), dtype=torch.bool, device=log_seqs.device))
        for i in range(len(self.attention_layers)):
            seqs = seqs.transpose(0, 1)  # (length, batch, hidden) for MultiheadAttention
            if self.norm_first:
                x = self.attention_layernorms[i](seqs)
                attended, _ = self.attention_layers[i](x, x, x, attn_mask=causal)
                seqs = (seqs + attended).transpose(0, 1)
                seqs = seqs + self.forward_layers[i](self.forward_layernorms[i](seqs))
            else:
                attended, _ = self.attention_layers[i](seqs, seqs, seqs, attn_mask=causal)
                seqs = self.attention_layernorms[i](seqs + attended).transpose(0, 1)
                seqs = self.forward_layernorms[i](seqs + self.forward_layers[i](seqs))
        return self.last_layernorm(seqs)

    def scores(self, state):
        return state @ self.item_emb.weight.t()


def left_padded(histories, maxlen):
    """pmixer's input: each history's latest maxlen items at the right of maxlen columns."""
    seq = torch.zeros(len(histories), maxlen, dtype=torch.long)
    for row, h in enumerate(histories):
        cut = h[-maxlen:]
        seq[row, maxlen - len(cut):] = torch.tensor(cut)
    return seq
