"""mifa's COCO RLE codec against pycocotools: compressed strings byte-identical for the same
masks, polygon rasterisation pixel-identical to frPyObjects, area and bbox equal.

Usage: python coco_rle_interop.py PATH_TO_coco_rle_EXAMPLE_BINARY [N]
Generates N random masks (sparse, dense, blocky, empty, full) and N random polygons (convex,
concave, self-intersecting, partly outside the image, multi-part), runs mifa on them, compares.
"""
import json, subprocess, sys
import numpy as np
from pycocotools import mask as cocomask


def main():
    binary, n = sys.argv[1], int(sys.argv[2]) if len(sys.argv) > 2 else 300
    rng = np.random.default_rng(7)
    masks, polys = [], []
    for i in range(n):
        h, w = int(rng.integers(1, 64)), int(rng.integers(1, 64))
        kind = i % 5
        if kind == 0:
            m = rng.random((h, w)) < 0.05
        elif kind == 1:
            m = rng.random((h, w)) < 0.7
        elif kind == 2:
            m = np.kron(rng.random((h // 4 + 1, w // 4 + 1)) < 0.5, np.ones((4, 4), bool))[:h, :w]
        elif kind == 3:
            m = np.zeros((h, w), bool)
        else:
            m = np.ones((h, w), bool)
        masks.append(m.astype(np.uint8))
        rings = []
        for _ in range(1 + (i % 3 == 0)):
            k = int(rng.integers(3, 12))
            ring = rng.uniform(-4, max(h, w) + 4, 2 * k).round(int(rng.integers(0, 3)))
            rings.append([float(v) for v in ring])
        polys.append({"height": h, "width": w, "rings": rings})
    payload = {"masks": [{"height": m.shape[0], "width": m.shape[1], "data": m.ravel().tolist()} for m in masks],
               "polygons": polys}
    out = json.loads(subprocess.run([binary], input=json.dumps(payload), capture_output=True, text=True, check=True).stdout)
    for i, (m, ours) in enumerate(zip(masks, out["masks"])):
        ref = cocomask.encode(np.asfortranarray(m))
        theirs = ref["counts"].decode()
        if theirs != ours["counts"]:
            sys.exit(f"FAIL mask {i} {m.shape}: pycocotools {theirs!r}, mifa {ours['counts']!r}")
        if int(cocomask.area(ref)) != ours["area"] or list(cocomask.toBbox(ref)) != ours["bbox"]:
            sys.exit(f"FAIL mask {i}: area/bbox {cocomask.area(ref)} {cocomask.toBbox(ref)} vs {ours['area']} {ours['bbox']}")
    for i, (p, ours) in enumerate(zip(polys, out["polygons"])):
        rles = cocomask.frPyObjects(p["rings"], p["height"], p["width"])
        ref = cocomask.merge(rles)
        theirs = ref["counts"].decode()
        if theirs != ours["counts"]:
            a = cocomask.decode(ref)
            b = cocomask.decode({"size": [p["height"], p["width"]], "counts": ours["counts"].encode()})
            sys.exit(f"FAIL polygon {i} {p}: {int((a != b).sum())} pixels differ")
        if int(cocomask.area(ref)) != ours["area"] or list(cocomask.toBbox(ref)) != ours["bbox"]:
            sys.exit(f"FAIL polygon {i}: area/bbox differ")
    print(f"ok  {len(masks)} masks: RLE strings, areas and boxes byte-identical to pycocotools")
    print(f"ok  {len(polys)} polygons: rasterisation identical to pycocotools frPyObjects + merge")


if __name__ == "__main__":
    main()
