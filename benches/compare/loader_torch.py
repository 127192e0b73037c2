# Baseline for `mifa load`: what users write today to train on random patches of an OME-Zarr package.
# A torch IterableDataset over zarr-python reads random PxP windows of each image (PKG/images/*.ome.zarr/0,
# uint16) and of its label (…/labels/<mask>/0), fed through DataLoader(num_workers=W, prefetch_factor=4,
# drop_last=True). One warm-up batch (workers started, arrays opened), then N batches are timed.
# Usage: python loader_torch.py PKG [--mask cells] [--patch 256] [--batch 32] [--batches 100]
#                                   [--workers 2] [--seed 0] [--json]
# MB/s counts decoded bytes at their stored dtype: P*P*2 (uint16 image) + P*P*itemsize (label array).
import argparse, glob, json, os, sys, time
import numpy as np, torch, zarr
from torch.utils.data import DataLoader, IterableDataset, get_worker_info


class RandomPatches(IterableDataset):
    """n random PxP (image, label) patches; each worker yields its share with its own RNG."""

    def __init__(self, paths, mask, patch, n, seed):
        self.paths, self.mask, self.patch, self.n, self.seed = paths, mask, patch, n, seed
        self.arrays = None                               # opened lazily, inside each worker (after fork)

    def _open(self):
        self.arrays = [(zarr.open_array(os.path.join(p, "0"), mode="r"),
                        zarr.open_array(os.path.join(p, "labels", self.mask, "0"), mode="r"))
                       for p in self.paths]

    def __iter__(self):
        if self.arrays is None:
            self._open()
        wi = get_worker_info()
        wid, nw = (wi.id, wi.num_workers) if wi else (0, 1)
        rng = np.random.default_rng([self.seed, wid])
        p = self.patch
        for _ in range(wid, self.n, nw):
            img, lab = self.arrays[rng.integers(len(self.arrays))]
            h, w = img.shape[-2:]
            y, x = int(rng.integers(0, h - p + 1)), int(rng.integers(0, w - p + 1))
            yield (torch.from_numpy(img[..., y:y + p, x:x + p].astype(np.float32))[None],
                   torch.from_numpy(lab[..., y:y + p, x:x + p].astype(np.int64)))


def main():
    ap = argparse.ArgumentParser(description="torch DataLoader + zarr-python random-patch baseline.")
    ap.add_argument("pkg", help="mifa package directory")
    ap.add_argument("--mask", default="cells", help="label name (labels/<mask>)")
    ap.add_argument("--patch", type=int, default=256)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--batches", type=int, default=100, help="timed batches (after one warm-up batch)")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--json", action="store_true", help="print one JSON line")
    o = ap.parse_args()
    torch.set_num_threads(1)
    paths = sorted(glob.glob(os.path.join(o.pkg, "images", "*.ome.zarr")))
    if not paths:
        sys.exit(f"no images/*.ome.zarr in {o.pkg}")
    label_itemsize = zarr.open_array(os.path.join(paths[0], "labels", o.mask, "0"), mode="r").dtype.itemsize
    # Every worker drops its last partial batch, so give each one a whole number of batches.
    nw = max(o.workers, 1)
    per_worker = -(-(o.batches + 1) // nw)
    ds = RandomPatches(paths, o.mask, o.patch, o.batch * per_worker * nw, o.seed)
    dl = DataLoader(ds, batch_size=o.batch, num_workers=o.workers, drop_last=True,
                    prefetch_factor=4 if o.workers else None, persistent_workers=False)
    it = iter(dl)
    next(it)                                             # warm-up: workers started, arrays opened
    t0, n, b = time.perf_counter(), 0, 0
    for xb, _yb in it:
        n += xb.shape[0]
        b += 1
        if b == o.batches:
            break
    dt = time.perf_counter() - t0
    del it
    mb = n * o.patch * o.patch * (2 + label_itemsize) / 1e6
    if o.json:
        print(json.dumps({"tool": "torch DataLoader + zarr-python", "workers": o.workers, "batch": o.batch,
                          "patches": n, "seconds": round(dt, 4), "patches_per_s": round(n / dt, 1),
                          "mb_per_s": round(mb / dt, 1), "torch": torch.__version__,
                          "zarr": zarr.__version__}))
    else:
        print(f"torch {torch.__version__} DataLoader(num_workers={o.workers}) + zarr-python {zarr.__version__}: "
              f"{n} patches ({b} batches of {o.batch}, {o.patch}x{o.patch}) in {dt:.2f} s = "
              f"{n / dt:.0f} patches/s, {mb / dt:.1f} MB/s (uint16 image + {label_itemsize}-byte labels)")


if __name__ == "__main__":
    main()
