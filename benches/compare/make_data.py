# Synthetic "nuclei-like" benchmark data: N uint16 images + N uint16 instance masks (same stem), uncompressed TIFF.
# Usage: python make_data.py OUT_DIR [--n 16] [--size 2048] [--objects 200] [--seed 0]
# Writes OUT_DIR/img/img_XX.tif and OUT_DIR/mask/img_XX.tif. Deterministic for a given seed (numpy PCG64).
# Images: smooth uneven background + bright discs with a soft edge and some texture + sensor noise, so they
# compress like real fluorescence data (neither constant nor white noise). Masks: non-overlapping discs, ids 1..K.
import argparse, os, sys, time
import numpy as np, tifffile


def smooth_field(rng, size, cells, lo, hi):
    """Random field on a coarse cells x cells grid, bilinearly upsampled to size x size (values in [lo, hi])."""
    coarse = rng.uniform(lo, hi, (cells, cells))
    pos = np.linspace(0, cells - 1, size)
    i0 = np.minimum(pos.astype(int), cells - 2)
    f = pos - i0
    w = np.zeros((size, cells))                          # interpolation matrix: field = W @ coarse @ W.T
    w[np.arange(size), i0] = 1 - f
    w[np.arange(size), i0 + 1] = f
    return w @ coarse @ w.T


def place_discs(rng, size, n, rmin, rmax):
    """Rejection-sample up to n non-overlapping discs (centre y, x, radius) fully inside the image."""
    ys, xs, rs = [], [], []
    for _ in range(n * 50):
        if len(rs) == n:
            break
        r = rng.uniform(rmin, rmax)
        y, x = rng.uniform(r + 1, size - r - 1, 2)
        if rs:
            d = np.hypot(np.asarray(ys) - y, np.asarray(xs) - x)
            if np.any(d < np.asarray(rs) + r + 2):        # keep a 2-pixel gap between objects
                continue
        ys.append(y); xs.append(x); rs.append(r)
    return ys, xs, rs


def make_one(rng, size, n_objects):
    img = smooth_field(rng, size, 9, 300.0, 700.0)       # uneven illumination / autofluorescence
    mask = np.zeros((size, size), np.uint16)
    rmin, rmax = max(2.0, size / 200), max(3.0, size / 70)   # 10..29 px radius at 2048
    texture = smooth_field(rng, size, max(4, size // 24), 0.75, 1.25)   # chromatin-like blotches
    for k, (y, x, r) in enumerate(zip(*place_discs(rng, size, n_objects, rmin, rmax)), start=1):
        y0, x0 = max(0, int(y - r - 3)), max(0, int(x - r - 3))
        y1, x1 = min(size, int(y + r + 4)), min(size, int(x + r + 4))
        yy, xx = np.mgrid[y0:y1, x0:x1]
        d = np.hypot(yy - y, xx - x) / r                 # 1.0 on the object boundary
        mask[y0:y1, x0:x1][d <= 1.0] = k
        peak = rng.uniform(1500, 12000)
        profile = peak / (1.0 + np.exp((d - 1.0) * r / 1.5))  # soft-edged plateau (sigmoid edge, ~1.5 px)
        img[y0:y1, x0:x1] += profile * texture[y0:y1, x0:x1]
    img += rng.normal(0.0, 25.0, img.shape)              # read noise
    img = rng.poisson(np.clip(img, 0, None) / 4.0) * 4.0  # shot noise (gain 4)
    return np.clip(img, 0, 65535).astype(np.uint16), mask


def main():
    ap = argparse.ArgumentParser(description="Write synthetic nuclei-like images and instance masks.")
    ap.add_argument("out_dir")
    ap.add_argument("--n", type=int, default=16)
    ap.add_argument("--size", type=int, default=2048)
    ap.add_argument("--objects", type=int, default=200)
    ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args()
    os.makedirs(os.path.join(a.out_dir, "img"), exist_ok=True)
    os.makedirs(os.path.join(a.out_dir, "mask"), exist_ok=True)
    rng = np.random.default_rng(a.seed)
    t0, total = time.perf_counter(), 0
    for i in range(a.n):
        img, mask = make_one(rng, a.size, a.objects)
        name = f"img_{i:02d}.tif"
        tifffile.imwrite(os.path.join(a.out_dir, "img", name), img)     # uncompressed by default
        tifffile.imwrite(os.path.join(a.out_dir, "mask", name), mask)
        total += img.nbytes + mask.nbytes
        print(f"{name}: {a.size}x{a.size} uint16, {int(mask.max())} objects", file=sys.stderr)
    print(f"wrote {a.n} images + {a.n} masks ({total / 1e6:.1f} MB) to {a.out_dir} "
          f"in {time.perf_counter() - t0:.1f} s")


if __name__ == "__main__":
    main()
