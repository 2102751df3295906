"""The bench's own arithmetic: the roofline's FLOPs and bytes per convolution, and the least
wall time of a gallery's jobs on a machine's cores. No timing is asserted."""

from __future__ import annotations

import json

import pytest
import torch
from torch import nn

from renderer.bench.gallery import Bound, bound_figures, job_seconds
from renderer.bench.roofline import (
    ConvShape,
    activation_bytes,
    conv_cost,
    conv_kind,
    conv_shapes,
)


def test_each_convolution_type_is_named_by_its_shape() -> None:
    assert conv_kind(nn.Conv2d(3, 32, 3, stride=2)) == "stem"
    assert conv_kind(nn.Conv2d(16, 16, 3, padding=1, groups=16)) == "depthwise 3x3"
    assert conv_kind(nn.Conv2d(40, 40, 5, padding=2, groups=40)) == "depthwise 5x5"
    assert conv_kind(nn.Conv2d(16, 96, 1)) == "1x1"
    assert conv_kind(nn.Conv2d(16, 32, 3)) == "other"
    assert conv_kind(nn.Conv2d(16, 32, 3, groups=2)) == "other"  # grouped, not depthwise


def test_a_convolution_s_flops_and_bytes_worked_by_hand() -> None:
    # 1x1, 4 -> 6 channels on 5 x 5: 25 positions x 6 outputs x 4 inputs multiply-adds, a
    # forward and a backward to the input: 2 x 2 x 600 = 2400 FLOPs; each pass moves the
    # input (100 floats), the output (150) and the weights (24): 2 x 4 x 274 bytes.
    pointwise = nn.Conv2d(4, 6, 1)
    flops, moved = conv_cost(pointwise, torch.Size([1, 4, 5, 5]), torch.Size([1, 6, 5, 5]))
    assert (flops, moved) == (2400.0, 2192.0)
    # depthwise 3x3 on 4 channels: 9 multiply-adds per output: 2 x 2 x 25 x 4 x 9 = 3600;
    # bytes 2 x 4 x (100 + 100 + 36); an intensity under 2 FLOP/byte, far below a matmul's.
    depthwise = nn.Conv2d(4, 4, 3, padding=1, groups=4)
    flops, moved = conv_cost(depthwise, torch.Size([1, 4, 5, 5]), torch.Size([1, 4, 5, 5]))
    assert (flops, moved) == (3600.0, 1888.0)
    assert ConvShape("dw", "depthwise 3x3", flops, moved).intensity == pytest.approx(1.907, 1e-3)


def test_the_activations_bytes_worked_by_hand() -> None:
    # one ReLU6 on 4 x 5 x 5 outputs: written in place, then its backward reads the gradient
    # and the saved output and writes the gradient: 5 passes of 100 floats
    net = nn.Sequential(nn.Conv2d(3, 4, 1), nn.ReLU6(), nn.Conv2d(4, 2, 1), nn.Identity())
    x = torch.rand(1, 3, 5, 5)
    assert activation_bytes(net, lambda: net(x)) == 5 * 4 * 100


def test_a_convolution_that_computes_nothing_is_refused() -> None:
    with pytest.raises(ValueError):
        ConvShape("x", "1x1", 0.0, 10.0)


def test_the_roofline_counts_the_flops_torch_counts_on_the_dreaming_network(lite0) -> None:
    from torch.utils.flop_counter import FlopCounterMode

    from renderer.dream.objectives import evaluate, layer_objective, resolve_terms
    from renderer.dream.presets import get_preset
    from renderer.fusion import dream_network

    objective = layer_objective(resolve_terms(lite0, get_preset("classic").recipe.terms))
    net = dream_network(lite0, objective.layers)
    x = torch.rand(1, 3, 64, 96).contiguous(memory_format=torch.channels_last)
    shapes, inputs = conv_shapes(net, lambda: evaluate(lite0, objective, x, net))
    assert {s.kind for s in shapes} == {"stem", "1x1", "depthwise 3x3", "depthwise 5x5"}
    assert set(inputs) == {s.name for s in shapes}
    leaf = x.clone().requires_grad_(True)
    with FlopCounterMode(display=False) as counter:
        torch.autograd.grad(evaluate(lite0, objective, leaf, net).sum(), leaf)
    assert sum(s.flops for s in shapes) == counter.get_total_flops()


def test_the_least_wall_time_is_the_seconds_over_the_cores_or_the_longest_job() -> None:
    jobs = (("dream", 10.0), ("class-dream", 30.0), ("dream", 20.0))
    assert Bound(2, jobs).wall_s == 30.0  # 60 s over 2 cores
    assert Bound(1, jobs).wall_s == 60.0
    assert Bound(4, jobs).wall_s == 30.0  # the class dream alone: 30 s
    long_tail = (("class-dream", 100.0), ("dream", 10.0), ("dream", 10.0))
    assert Bound(2, long_tail).wall_s == 100.0
    assert Bound(2, long_tail).longest == ("class-dream", 100.0)
    assert Bound(2, long_tail).shares() == pytest.approx({"class-dream": 100 / 120, "dream": 1 / 6})
    assert Bound(2, ()).wall_s == 0.0
    figures = bound_figures("full", Bound(2, long_tail), reference=0.5)
    assert figures["full_bound_on_2_cores_s"] == 100.0
    assert figures["full_bound_over_network_reference"] == 200
    with pytest.raises(ValueError):
        Bound(0, jobs)
    with pytest.raises(ValueError):
        Bound(2, (("dream", -1.0),))


def test_job_seconds_are_cpu_seconds_where_recorded(tmp_path) -> None:
    rows = {
        "a": {"status": "rendered", "kind": "dream", "seconds": 9.0, "cpu_s": 4.0},
        "b": {"status": "rendered", "kind": "explain", "seconds": 7.0},  # from before cpu_s
        "c": {"status": "skipped", "kind": "dream", "seconds": 1.0},
    }
    for key, info in rows.items():
        (tmp_path / "jobs" / key).mkdir(parents=True)
        (tmp_path / "jobs" / key / "done.json").write_text(json.dumps(info))
    assert job_seconds(tmp_path) == (("dream", 4.0), ("explain", 7.0))
