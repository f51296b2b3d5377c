"""Test-wide settings: one intra-op thread (the CI machine has 2 cores) and offline wandb."""

import os

os.environ.setdefault("WANDB_MODE", "offline")
os.environ.setdefault("WANDB_SILENT", "true")
os.environ.setdefault("OMP_NUM_THREADS", "1")  # the apps' threads=auto follows it

import torch

torch.set_num_threads(1)
