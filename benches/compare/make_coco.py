"""Synthetic LIVECell-sized COCO instances file: 704x520 images, ~62 cell-like star-shaped polygons each.
Usage: python make_coco.py OUT.json [--annotations 200000] [--seed 0]
Deterministic for a given seed (numpy default_rng); 200k annotations -> ~95 MB, 3,200 images.
"""
import argparse, json, time
import numpy as np

W, H = 704, 520                 # LIVECell image size (width, height)
PER_IMAGE = 62.5                # annotations per image on average -> 3,200 images for 200k
NMIN, NMAX = 17, 26             # vertices per polygon (mean 21.5 -> ~95 MB for 200k)
RMIN, RMAX, NOISE = 5.0, 20.0, 0.15


def polygons(rng, centres, n):
    """k star-shaped polygons of n vertices: jittered angles (sorted), radius r * (1 +- noise)."""
    k = len(centres)
    step = 2 * np.pi / n
    ang = rng.uniform(0, 2 * np.pi, (k, 1)) + step * (np.arange(n) + rng.uniform(-0.3, 0.3, (k, n)))
    rad = rng.uniform(RMIN, RMAX, (k, 1)) * (1 + rng.uniform(-NOISE, NOISE, (k, n)))
    x = np.clip(centres[:, :1] + rad * np.cos(ang), 0, W).round(2)
    y = np.clip(centres[:, 1:] + rad * np.sin(ang), 0, H).round(2)
    area = 0.5 * np.abs(np.sum(x * np.roll(y, -1, 1) - np.roll(x, -1, 1) * y, axis=1))
    x0, y0 = x.min(1), y.min(1)
    bbox = np.stack([x0, y0, x.max(1) - x0, y.max(1) - y0], 1).round(2)
    return np.stack([x, y], 2).reshape(k, 2 * n), area.round(2), bbox


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("out")
    ap.add_argument("--annotations", type=int, default=200_000)
    ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args()
    t0 = time.perf_counter()
    rng = np.random.default_rng(a.seed)
    n_ann = a.annotations
    n_img = max(1, round(n_ann / PER_IMAGE))
    image_ids = np.sort(rng.integers(1, n_img + 1, n_ann))
    margin = RMAX * (1 + NOISE) + 1
    centres = np.stack([rng.uniform(margin, W - margin, n_ann), rng.uniform(margin, H - margin, n_ann)], 1)
    counts = rng.integers(NMIN, NMAX + 1, n_ann)
    seg, area, bbox = [None] * n_ann, [0.0] * n_ann, [None] * n_ann
    for n in range(NMIN, NMAX + 1):          # vectorised per vertex count
        idx = np.flatnonzero(counts == n)
        s, ar, bb = polygons(rng, centres[idx], n)
        for i, si, ai, bi in zip(idx.tolist(), s.tolist(), ar.tolist(), bb.tolist()):
            seg[i], area[i], bbox[i] = si, ai, bi
    coco = {
        "info": {"description": "Synthetic LIVECell-sized COCO instances (mifa benchmark)",
                 "version": "1.0", "year": 2026, "contributor": "mifa make_coco.py",
                 "date_created": "2026-01-01", "seed": a.seed},
        "licenses": [{"id": 1, "name": "CC0 1.0", "url": "https://creativecommons.org/publicdomain/zero/1.0/"}],
        "images": [{"id": i, "file_name": f"synthetic_{i:04d}.tif", "width": W, "height": H, "license": 1}
                   for i in range(1, n_img + 1)],
        "annotations": [{"segmentation": [seg[i]], "area": area[i], "iscrowd": 0, "image_id": img,
                         "bbox": bbox[i], "category_id": 1, "id": i + 1}
                        for i, img in enumerate(image_ids.tolist())],
        "categories": [{"id": 1, "name": "cell", "supercategory": "cell"}],
    }
    text = json.dumps(coco, separators=(", ", ": "))   # dumps + write: C encoder (json.dump is pure Python)
    with open(a.out, "w") as f:
        f.write(text)
    print(f"{a.out}: {n_img} images, {n_ann} annotations, {len(text) / 1e6:.1f} MB "
          f"in {time.perf_counter() - t0:.1f} s")


if __name__ == "__main__":
    main()
