"""Training checkpoints: a save -> load round trip restores the run exactly, and a checkpoint
of another configuration is refused."""

import copy
import json
from dataclasses import asdict

import pytest
import torch
from safetensors import safe_open

from mulde.core import EnergyMLP, TrainConfig
from mulde.core.checkpoint import (
    CHECKPOINT_NAME,
    CheckpointFileError,
    load_checkpoint,
    save_checkpoint,
)

CONFIG = asdict(TrainConfig(max_steps=7, seed=3))


def _run(seed: int, steps: int, ema_decay: float | None = 0.9):
    """A network, its EMA and Adam after `steps` updates on a fixed regression."""
    torch.manual_seed(seed)
    net = EnergyMLP(3, (8, 8))
    ema = copy.deepcopy(net).requires_grad_(False) if ema_decay else None
    opt = torch.optim.Adam(net.parameters(), lr=1e-2, betas=(0.5, 0.9))
    x = torch.randn(32, 3, generator=torch.Generator().manual_seed(0))
    sigma = torch.full((32, 1), 0.5)
    for _ in range(steps):
        opt.zero_grad()
        net(x, sigma).square().mean().backward()
        opt.step()
        if ema is not None:
            with torch.no_grad():
                for pe, p in zip(ema.parameters(), net.parameters(), strict=True):
                    pe.lerp_(p, 1 - ema_decay)
    return net, ema, opt, (x, sigma)


def _assert_same(a: dict, b: dict):
    assert a.keys() == b.keys()
    for k in a:
        assert torch.equal(a[k], b[k]), k


def test_round_trip_restores_weights_average_optimiser_and_counters(tmp_path):
    net, ema, opt, batch = _run(0, steps=3)
    best = {k: v.clone() * 2 for k, v in net.state_dict().items()}  # distinct from net's
    state = {"step": 3, "best_val": 0.25, "history": [{"step": 3, "val_loss": 0.25}]}
    path = tmp_path / CHECKPOINT_NAME
    save_checkpoint(path, net, ema, opt, state, best, CONFIG)
    assert [p.name for p in tmp_path.iterdir()] == [CHECKPOINT_NAME]  # no temp file left

    net2, ema2, opt2, _ = _run(1, steps=1)  # another run: every tensor differs
    state2, best2 = load_checkpoint(path, net2, ema2, opt2, CONFIG)
    assert state2 == state
    _assert_same(best2, best)
    _assert_same(net2.state_dict(), net.state_dict())
    _assert_same(ema2.state_dict(), ema.state_dict())
    for s1, s2 in zip(opt.state_dict()["state"].values(), opt2.state_dict()["state"].values(),
                      strict=True):
        _assert_same(s1, s2)
    # the restored optimiser continues exactly as the original one
    x, sigma = batch
    for n, o in ((net, opt), (net2, opt2)):
        o.zero_grad()
        n(x, sigma).square().mean().backward()
        o.step()
    _assert_same(net2.state_dict(), net.state_dict())


def test_without_ema_the_file_holds_no_average(tmp_path):
    net, _, opt, _ = _run(0, steps=2, ema_decay=None)
    path = tmp_path / CHECKPOINT_NAME
    save_checkpoint(path, net, None, opt, {"step": 2}, copy.deepcopy(net.state_dict()), CONFIG)
    with safe_open(str(path), framework="pt") as f:
        keys = set(f.keys())
        assert json.loads(f.metadata()["config"])["max_steps"] == 7
    assert not any(k.startswith("ema.") for k in keys)
    assert {"net.first.weight", "best.first.weight", "opt.0.exp_avg"} <= keys
    net2, _, opt2, _ = _run(1, steps=1, ema_decay=None)
    assert load_checkpoint(path, net2, None, opt2, CONFIG)[0] == {"step": 2}
    _assert_same(net2.state_dict(), net.state_dict())


def test_a_checkpoint_of_another_config_is_refused_and_tuples_match_lists(tmp_path):
    net, ema, opt, _ = _run(0, steps=1)
    path = tmp_path / CHECKPOINT_NAME
    save_checkpoint(path, net, ema, opt, {"step": 1}, copy.deepcopy(net.state_dict()), CONFIG)
    assert isinstance(CONFIG["adam_betas"], tuple)  # stored as a JSON list, still equal
    load_checkpoint(path, net, ema, opt, CONFIG)
    other = asdict(TrainConfig(max_steps=8, seed=3))
    with pytest.raises(ValueError, match=f"{CHECKPOINT_NAME}.*another training config"):
        load_checkpoint(path, net, ema, opt, other)


def test_a_resume_may_save_its_checkpoints_more_or_less_often(tmp_path):
    """checkpoint_every decides when a run saves, not what it trains: a resume with another
    value is not refused (the newcomer of stop 34 found it refused)."""
    net, ema, opt, _ = _run(0, steps=1)
    path = tmp_path / CHECKPOINT_NAME
    save_checkpoint(path, net, ema, opt, {"step": 1}, copy.deepcopy(net.state_dict()), CONFIG)
    state, _ = load_checkpoint(path, net, ema, opt, CONFIG | {"checkpoint_every": 7})
    assert state == {"step": 1}
    with pytest.raises(ValueError, match="it differs in eval_every"):  # but not the others
        load_checkpoint(path, net, ema, opt, CONFIG | {"eval_every": 7})


def test_checkpoints_written_before_weight_decay_existed_still_resume():
    from mulde.core.training import _checkpoint_config

    assert "weight_decay" not in _checkpoint_config(TrainConfig())  # as older files hold it
    assert _checkpoint_config(TrainConfig(weight_decay=0.5))["weight_decay"] == 0.5


def test_checkpoints_written_before_the_time_score_term_existed_still_resume():
    """A loss without the term writes the loss fields older checkpoints hold (beta and
    regulariser only), so their runs resume; one with the term names its weight, so neither
    is ever resumed as the other."""
    from mulde.core import DSMLoss
    from mulde.core.training import _checkpoint_config

    old = {"beta": 0.0, "regulariser": "sigma2"}
    assert _checkpoint_config(TrainConfig(), loss_fn=DSMLoss(0.0, "sigma2"))["loss"] == old
    assert _checkpoint_config(TrainConfig(), loss_fn=DSMLoss(0.0, "sigma2", 0.25))["loss"] == (
        old | {"time_score": 0.25})


@pytest.mark.parametrize("damage", ["empty", "garbage", "truncated", "one byte short",
                                    "metadata"])
def test_a_damaged_checkpoint_is_named_as_such(tmp_path, damage):
    """safetensors' own error ("SafetensorError: Error while deserializing header: header
    too small") named neither the file nor what to do."""
    net, ema, opt, _ = _run(0, steps=1)
    path = tmp_path / CHECKPOINT_NAME
    save_checkpoint(path, net, ema, opt, {"step": 1}, copy.deepcopy(net.state_dict()), CONFIG)
    whole = path.read_bytes()
    if damage == "metadata":  # a readable file whose recorded counters are cut off
        from safetensors.torch import save_file

        save_file({"net.x": torch.zeros(1)}, str(path),
                  metadata={"config": json.dumps(CONFIG), "state": '{"step": '})
    else:
        path.write_bytes({"empty": b"", "garbage": b"not a checkpoint\n" * 9,
                          "truncated": whole[:len(whole) // 2],
                          "one byte short": whole[:-1]}[damage])
    with pytest.raises(CheckpointFileError, match=f"^{path}: damaged training checkpoint "
                                                  r"\(.+\); remove it to start the fit over$"):
        load_checkpoint(path, net, ema, opt, CONFIG)


def test_a_model_file_in_a_checkpoints_place_is_said_to_be_no_checkpoint(tmp_path):
    """A safetensors file without a checkpoint's metadata (a saved MULDE model) was refused
    as "differs in config (null in the checkpoint, {...the whole config...} now)"."""
    from safetensors.torch import save_file

    net, ema, opt, _ = _run(0, steps=1)
    path = tmp_path / CHECKPOINT_NAME
    save_file({"net.first.weight": torch.zeros(8, 4)}, str(path), metadata={"format": "mulde"})
    with pytest.raises(CheckpointFileError, match=f"^{path}: a safetensors file, but not a "
                                                  "training checkpoint .*; move it out of the "
                                                  "checkpoint folder, or use another one$"):
        load_checkpoint(path, net, ema, opt, CONFIG)


def test_a_folder_in_a_checkpoints_place_is_named_with_what_to_do(tmp_path):
    """A folder named checkpoint.safetensors inside the checkpoint folder ended the fit in
    safetensors' "No such device (os error 19)", naming no path."""
    net, ema, opt, _ = _run(0, steps=1)
    path = tmp_path / CHECKPOINT_NAME
    path.mkdir()
    with pytest.raises(CheckpointFileError, match=f"^{path}: a folder where the training "
                                                  "checkpoint file is to be; move it out of "
                                                  "the checkpoint folder, or use another "
                                                  "one$"):
        load_checkpoint(path, net, ema, opt, CONFIG)
