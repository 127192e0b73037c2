"""Interop checks for OME-Zarr written and read by mifa, against independent implementations.

Usage: python ome_zarr_interop.py PACKAGE_DIR SOURCES.json [EXPORT_DIR]

SOURCES.json: {"<image id>": {"image": "src.tif|png|jpg", "labels": {"<name>": "mask.tif"}}}
For every image of the package:
  1. ome-zarr-models validates the image and each label strictly (spec warnings are errors);
  2. ome-zarr-py's reader reads it (pyramid never grows, labels are integers);
  3. zarr-python reads level 0 (and each label's level 0) pixel-identical to the source file,
     with the same dtype; every level's y/x shape is ceil(previous / 2) and its scale 2x the
     previous; every label level holds only values of its level 0;
  4. with EXPORT_DIR: tifffile reads mifa's exported OME-TIFF pixel-identical to level 0, with
     the physical pixel size of the OME-Zarr.
JPEG sources are compared with a tolerance (decoders differ by a few grey levels).
Exits 1 at the first failure with a message naming the image.
"""
import json, math, os, sys, warnings
import numpy as np, tifffile, zarr
from ome_zarr.io import parse_url
from ome_zarr.reader import Reader, Label
from ome_zarr_models import open_ome_zarr
from ome_zarr_models.exceptions import ValidationWarning


def fail(msg):
    print("FAIL:", msg)
    sys.exit(1)


def read_source(path):
    if path.lower().endswith((".tif", ".tiff")):
        return tifffile.imread(path)
    from PIL import Image  # pulled in by ome-zarr's scikit-image dependency
    a = np.asarray(Image.open(path))
    return np.moveaxis(a, -1, 0) if a.ndim == 3 else a  # (y, x, c) -> (c, y, x)


def ome_attrs(group):
    attrs = dict(group.attrs)
    return attrs.get("ome", attrs)


def check_multiscale(group, where, source, is_label):
    ms = ome_attrs(group)["multiscales"][0]
    datasets = ms["datasets"]
    level0 = group[datasets[0]["path"]][...]
    src = read_source(source)
    if src.dtype != level0.dtype:
        fail(f"{where}: dtype {level0.dtype}, source {source} has {src.dtype}")
    if source.lower().endswith((".jpg", ".jpeg")):
        # JPEG decoders are not bit-exact (IDCT, chroma upsampling): allow their usual spread.
        d = np.abs(np.squeeze(src).astype(int) - np.squeeze(level0).astype(int))
        if src.shape != level0.shape or d.max() > 8 or d.mean() > 1.0:
            fail(f"{where}: level 0 differs from {source} beyond decoder tolerance (max {d.max()}, mean {d.mean():.2f})")
    elif not np.array_equal(np.squeeze(src), np.squeeze(level0)):
        fail(f"{where}: level 0 differs from {source} (shapes {level0.shape} vs {src.shape})")
    values = np.unique(level0) if is_label else None
    prev_shape, prev_scale = level0.shape, datasets[0]["coordinateTransformations"][0]["scale"]
    for ds in datasets[1:]:
        arr = group[ds["path"]]
        scale = ds["coordinateTransformations"][0]["scale"]
        want = tuple(prev_shape[:-2]) + tuple(math.ceil(n / 2) for n in prev_shape[-2:])
        if tuple(arr.shape) != want:
            fail(f"{where}/{ds['path']}: shape {arr.shape}, expected {want}")
        if any(abs(a - 2 * b) > 1e-9 for a, b in zip(scale[-2:], prev_scale[-2:])):
            fail(f"{where}/{ds['path']}: scale {scale} is not 2x {prev_scale} in y, x")
        if is_label and not np.isin(np.unique(arr[...]), values).all():
            fail(f"{where}/{ds['path']}: label level holds values absent from level 0")
        prev_shape, prev_scale = arr.shape, scale
    print(f"ok  {where}: {len(datasets)} level(s), {level0.dtype}, identical to {os.path.basename(source)}")
    return ms


def main():
    pkg, sources = sys.argv[1], json.load(open(sys.argv[2]))
    export = sys.argv[3] if len(sys.argv) > 3 else None
    for image_id, spec in sources.items():
        path = os.path.join(pkg, "images", f"{image_id}.ome.zarr")
        with warnings.catch_warnings():
            warnings.simplefilter("error", ValidationWarning)
            try:
                model = open_ome_zarr(path)
                labels_found = []
                root = zarr.open_group(path, mode="r")
                if "labels" in root:
                    for name in root["labels"].group_keys():
                        open_ome_zarr(root["labels"][name])
                        labels_found.append(name)
            except Exception as e:  # noqa: BLE001 - report any validation failure
                fail(f"{image_id}: ome-zarr-models rejects it: {e}")
        print(f"ok  {image_id}: ome-zarr-models {type(model).__module__}.{type(model).__name__}, labels {labels_found}")
        loc = parse_url(path)
        nodes = list(Reader(loc)()) if loc else []
        if not nodes:
            fail(f"{image_id}: ome-zarr-py finds no image")
        for node in nodes:
            shapes = [tuple(a.shape) for a in node.data]
            if any(any(b > a for a, b in zip(x, y)) for x, y in zip(shapes, shapes[1:])):
                fail(f"{image_id}: ome-zarr-py sees a growing pyramid {shapes}")
            if any(isinstance(s, Label) for s in node.specs) and node.data[0].dtype.kind not in "iu":
                fail(f"{image_id}: ome-zarr-py reads a non-integer label")
        print(f"ok  {image_id}: ome-zarr-py reads {len(nodes)} node(s)")
        root = zarr.open_group(path, mode="r")
        ms = check_multiscale(root, image_id, spec["image"], False)
        for name, mask in spec.get("labels", {}).items():
            check_multiscale(root["labels"][name], f"{image_id}/labels/{name}", mask, True)
        if export:
            tif = os.path.join(export, f"{image_id}.ome.tif")
            with tifffile.TiffFile(tif) as t:
                data = t.asarray()
                if not t.is_ome:
                    fail(f"{tif}: not an OME-TIFF for tifffile")
                pixels = t.ome_metadata
            # The export must equal what the package holds (for lossless sources, the source).
            held = root[ms["datasets"][0]["path"]][...]
            if data.dtype != held.dtype or not np.array_equal(np.squeeze(data), np.squeeze(held)):
                fail(f"{tif}: exported pixels differ from the package's level 0")
            x_scale = ms["datasets"][0]["coordinateTransformations"][0]["scale"][-1]
            axes = [a["name"] for a in ms["axes"]]
            if ms["axes"][-1].get("unit") and f'PhysicalSizeX="{x_scale}"' not in pixels and f'PhysicalSizeX="{float(x_scale)}"' not in pixels:
                fail(f"{tif}: OME-XML lacks PhysicalSizeX={x_scale}")
            print(f"ok  {tif}: tifffile reads {data.shape} {data.dtype} ({''.join(axes)}), identical")
    print("all interop checks passed")


if __name__ == "__main__":
    main()
