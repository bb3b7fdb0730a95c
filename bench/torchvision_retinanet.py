#!/usr/bin/python3
"""Reference: torchvision's RetinaNet with a ResNet-18 FPN backbone (P3-P7, 256-channel
4-conv heads), timed like bench_detector.cpp: forward + post-processing, untrained weights,
median over iterations. One slice per call, or with --slices N the N slices of a study in one
call (the detector-only time of a study). Prints one JSON line; median_ms is per call."""
import argparse
import json
import time

import torch
from torchvision.models.detection import RetinaNet
from torchvision.models.detection.backbone_utils import resnet_fpn_backbone
from torchvision.ops.feature_pyramid_network import LastLevelP6P7

parser = argparse.ArgumentParser()
parser.add_argument("--size", type=int, default=256)
parser.add_argument("--threads", type=int, default=2)
parser.add_argument("--iterations", type=int, default=20)
parser.add_argument("--warmup", type=int, default=3)
parser.add_argument("--slices", type=int, default=1, help="slices per call (a study's slice count)")
args = parser.parse_args()

torch.set_num_threads(args.threads)
torch.manual_seed(0)
backbone = resnet_fpn_backbone(backbone_name="resnet18", weights=None, trainable_layers=5,
                               returned_layers=[2, 3, 4], extra_blocks=LastLevelP6P7(256, 256))
# min/max size equal to the input: the transform does not resize.
model = RetinaNet(backbone, num_classes=2, min_size=args.size, max_size=args.size).eval()
images = [torch.rand(3, args.size, args.size) for _ in range(args.slices)]
with torch.no_grad():
    for _ in range(args.warmup):
        model(images)
    times = []
    for _ in range(args.iterations):
        t0 = time.perf_counter()
        model(images)
        times.append((time.perf_counter() - t0) * 1000)
times.sort()
print(json.dumps({"model": "torchvision RetinaNet (ResNet-18, FPN P3-P7, 256-ch 4-conv heads)",
                  "size": args.size, "slices": args.slices, "threads": torch.get_num_threads(), "iterations": args.iterations,
                  "median_ms": times[len(times) // 2], "min_ms": times[0],
                  "parameters": sum(p.numel() for p in model.parameters())}))
