"""Baseline for mifa's COCO side-by-side: pycocotools load time, peak RSS, and annToMask throughput.
Usage: python coco_pycocotools.py FILE.json [--masks 20000]
Prints one JSON object on stdout (pycocotools' own progress lines go to stderr).
"""
import argparse, contextlib, json, os, resource, sys, time
from importlib.metadata import version
from pycocotools.coco import COCO


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("file")
    ap.add_argument("--masks", type=int, default=20_000)
    a = ap.parse_args()

    t0 = time.perf_counter()
    with contextlib.redirect_stdout(sys.stderr):          # json.load + createIndex
        coco = COCO(a.file)
    load_s = time.perf_counter() - t0
    peak_rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux

    anns = coco.loadAnns(sorted(coco.getAnnIds())[:a.masks])
    elapsed, pixels = 0.0, 0
    for ann in anns:                                      # time annToMask only, not the checksum
        t = time.perf_counter()
        m = coco.annToMask(ann)
        elapsed += time.perf_counter() - t
        pixels += int(m.sum(dtype="int64"))

    print(json.dumps({
        "tool": "pycocotools", "version": version("pycocotools"), "file": a.file,
        "file_mb": round(os.path.getsize(a.file) / 1e6, 1), "annotations": len(coco.anns),
        "load_s": round(load_s, 3), "peak_rss_mb": round(peak_rss_mb, 1),
        "masks": len(anns), "masks_per_s": round(len(anns) / elapsed, 1), "mask_pixels": pixels,
    }))


if __name__ == "__main__":
    main()
