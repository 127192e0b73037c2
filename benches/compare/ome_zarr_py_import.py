"""Baseline for `mifa add`: what a user writes today with tifffile + ome-zarr-py.

Usage: python ome_zarr_py_import.py DATA_DIR OUT_DIR
For every DATA_DIR/img/*.tif: tifffile.imread, ome_zarr.writer.write_image into OUT_DIR/<stem>.ome.zarr
(OME-Zarr 0.5 / Zarr v3, axes yx, 256x256 chunks, pyramid 2048 -> 256 by 2x local means: the same
layout mifa writes), then write_labels of DATA_DIR/mask/<same name> as "cells" (nearest, same levels).
Prints: ome-zarr-py: N images, X MB in S s = R MB/s   (MB = uncompressed bytes of images + masks).
"""
import glob, os, sys, time
import tifffile, zarr
from ome_zarr.format import FormatV05
from ome_zarr.writer import write_image, write_labels
from ome_zarr.scale import Methods


def levels_for(size, chunk=256):
    factors, f = [], 2
    while size / (f // 2) > chunk:
        factors.append(f)
        f *= 2
    return tuple(factors)


def main():
    data, out = sys.argv[1], sys.argv[2]
    os.makedirs(out, exist_ok=True)
    images = sorted(glob.glob(os.path.join(data, "img", "*.tif")))
    t0, total = time.perf_counter(), 0
    for path in images:
        name = os.path.basename(path)
        img = tifffile.imread(path)
        mask = tifffile.imread(os.path.join(data, "mask", name))
        total += img.nbytes + mask.nbytes
        factors = levels_for(max(img.shape))
        group = zarr.open_group(os.path.join(out, name[:-4] + ".ome.zarr"), mode="w", zarr_format=3)
        opts = {"chunks": (256, 256)}
        write_image(img, group, scale_factors=factors, method=Methods.LOCAL_MEAN, fmt=FormatV05(),
                    axes="yx", storage_options=opts, name=name[:-4])
        # scaler=None: ome-zarr-py 0.18's default (deprecated) Scaler ignores scale_factors and
        # would write one more label level than the image has.
        write_labels(mask, group, name="cells", scaler=None, scale_factors=factors, method=Methods.NEAREST,
                     fmt=FormatV05(), axes="yx", storage_options=opts)
    secs = time.perf_counter() - t0
    print(f"ome-zarr-py: {len(images)} images, {total / 1e6:.1f} MB in {secs:.2f} s = {total / 1e6 / secs:.1f} MB/s")


if __name__ == "__main__":
    main()
