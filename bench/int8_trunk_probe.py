#!/usr/bin/python3
"""Probe: torchvision's ResNet-18 trunk (no pooling or classifier) on 8 slices of 256x256 in float
(scripted and frozen, batch norms folded) against 8-bit integers (FX graph-mode quantization,
oneDNN's quantized engine, min/max-style calibration on random images), in Debian's
python3-torch, which is the same libtorch 1.13 the project links. Prints ms per slice, median of
the timed calls after a warm-up, and the mean relative difference of the trunk's output.
Usage: bench/int8_trunk_probe.py [THREADS] [CALLS]   (docs/benchmarks.md, "The detector in 8-bit integers")"""
import copy
import sys
import time

import torch
import torchvision
from torch.ao.quantization import get_default_qconfig_mapping
from torch.ao.quantization.quantize_fx import convert_fx, prepare_fx

threads = int(sys.argv[1]) if len(sys.argv) > 1 else 2
calls = int(sys.argv[2]) if len(sys.argv) > 2 else 6
torch.set_num_threads(threads)
torch.manual_seed(0)
trunk = torch.nn.Sequential(*list(torchvision.models.resnet18().children())[:-2]).eval()
x = torch.rand(8, 3, 256, 256)


def ms_per_slice(model):
    with torch.no_grad():
        model(x)
        times = []
        for _ in range(calls):
            start = time.perf_counter()
            y = model(x)
            times.append((time.perf_counter() - start) * 1000 / x.shape[0])
    return sorted(times)[len(times) // 2], y


with torch.no_grad():
    frozen = torch.jit.freeze(torch.jit.script(copy.deepcopy(trunk)))
float_ms, y_float = ms_per_slice(frozen)
torch.backends.quantized.engine = "onednn"
prepared = prepare_fx(copy.deepcopy(trunk), get_default_qconfig_mapping("onednn"), example_inputs=(x,))
with torch.no_grad():
    for _ in range(4):
        prepared(torch.rand_like(x))
int8_ms, y_int8 = ms_per_slice(convert_fx(prepared))
difference = ((y_int8 - y_float).abs().mean() / y_float.abs().mean()).item()
print(f"float (frozen) {float_ms:.1f} ms/slice, int8 (oneDNN) {int8_ms:.1f} ms/slice, "
      f"{float_ms / int8_ms:.1f}x, mean relative difference {difference:.3f}")
