"""MQAR-only probe on any device: train one layout on MQAR and print (held-out accuracy, loss) and seconds.

    python3 tools/gpu/mqar_probe.py LAYOUT STEPS LR VOCAB SEQ_LEN KV_PAIRS D_MODEL WEIGHT_DECAY [DEVICE]
    python3 tools/gpu/mqar_probe.py 'attn*8' 2000 3e-3 64 32 4 64 0.0        # CPU, one thread
"""
import sys
import time

import torch

from proxies.budget import get_budget
from proxies.evaluate import run_mqar
from search_space import Layout

torch.set_num_threads(1)
layout, steps, lr, vocab, seq, kv, d, wd = sys.argv[1:9]
device = torch.device(sys.argv[9] if len(sys.argv) > 9 else "cpu")
budget = get_budget("smoke", dict(
    d_model=int(d), n_heads=2, mqar_vocab=int(vocab), mqar_seq_len=int(seq), mqar_kv_pairs=int(kv),
    mqar_steps=int(steps), mqar_lr=float(lr), mqar_batch=64, mqar_train_examples=20000, weight_decay=float(wd),
    chunk_size=32))
t = time.time()
print(sys.argv[1:], run_mqar(Layout.parse(layout), budget, device, 0), round(time.time() - t, 1), flush=True)
