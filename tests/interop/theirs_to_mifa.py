"""We read what they write: ome-zarr-py writes OME-Zarr 0.4 and 0.5 images with labels from
tifffile-read sources; the shell script imports them with mifa and compares pixels.

Usage: python theirs_to_mifa.py SOURCE.tif MASK.tif OUT_DIR   -> OUT_DIR/theirs_v04.ome.zarr, theirs_v05.ome.zarr
"""
import os, sys
import tifffile, zarr
from ome_zarr.format import FormatV04, FormatV05
from ome_zarr.writer import write_image, write_labels

img, mask, out = tifffile.imread(sys.argv[1]), tifffile.imread(sys.argv[2]), sys.argv[3]
for fmt, zf, name in [(FormatV04(), 2, "theirs_v04"), (FormatV05(), 3, "theirs_v05")]:
    group = zarr.open_group(os.path.join(out, f"{name}.ome.zarr"), mode="w", zarr_format=zf)
    write_image(img, group, scale_factors=(2,), fmt=fmt, axes="yx", storage_options={"chunks": (128, 128)})
    write_labels(mask, group, name="nuclei", scale_factors=(2,), fmt=fmt, axes="yx")
    print("wrote", name)
