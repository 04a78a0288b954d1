"""Test-wide settings: one torch thread per worker (pytest runs two workers, see pyproject),
so the small models of the tests never oversubscribe the cores."""

import torch

torch.set_num_threads(1)
