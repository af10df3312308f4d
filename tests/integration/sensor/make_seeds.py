#!/usr/bin/env python3
"""Write the fuzz_sensor_frame seeds: every frame of the capture tests
(test_sensor_files.py), as one link-type byte + the frame.

usage: make_seeds.py SOURCE_ROOT   (rewrites tests/data/fuzz/fuzz_sensor_frame/)
"""
import hashlib
import os
import sys

root = sys.argv[1]
sys.argv = [sys.argv[0], "/bin/false", root]
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import test_sensor_files as t  # noqa: E402

INDEX = {1: 0, 113: 1, 276: 2, 0: 3, 108: 4, 12: 5, 101: 6, 228: 7, 229: 8}
out = os.path.join(root, "tests", "data", "fuzz", "fuzz_sensor_frame")
os.makedirs(out, exist_ok=True)
for name, linktype, frames, _, _, snaplen, _ in t.CASES:
    for i, (_, data) in enumerate(frames):
        seed = bytes([INDEX[linktype]]) + data[:snaplen]
        with open(os.path.join(out, "%s-%d" % (name, i)), "wb") as f:
            f.write(seed)
print(len(os.listdir(out)), "seeds in", out)
