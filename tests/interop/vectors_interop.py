"""Vector annotations: independent implementations read what mifa writes, and mifa reads what
they write. pycocotools (COCO masks, RLE strings, polygon rasterisation), shapely (geometric
validity, ring orientation, areas), the `geojson` package (RFC 7946 structure), numpy, tifffile.

Usage: python vectors_interop.py MIFA_BINARY ANNOTATION_MASKS_BINARY WORK_DIR

Checks (each prints one "ok" line with counts; any problem is listed and the exit status is 1):
 1. mifa writes, pycocotools reads: random uint16 instance masks with hard cases (holes, nested
    objects, border objects, objects touching themselves or each other diagonally, single
    pixels, 1-px lines) -> `mifa export coco` (RLE), `--polygons`, and the traced vector set.
 2. mifa's masks of arbitrary COCO objects (star-shaped and self-intersecting float polygons,
    partly outside the image, multi-part, box-only, compressed and uncompressed RLE) equal
    pycocotools' `annToRLE` byte for byte.
 3. mifa imports a pycocotools-style COCO file and exports it again: every object's mask, id,
    image and category are kept; RLE-born objects stay RLE, polygons stay polygons.
 4. every GeoJSON mifa writes for the masks (`convert to-polygons`, `export geojson`) is valid
    RFC 7946 (`geojson`) and valid OGC geometry (shapely), exterior rings counter-clockwise and
    holes clockwise in the numbers, shapely area = pixel count, and each feature's rings
    rasterised by pycocotools give back exactly its label's pixels.
 5. mifa imports shapely-written GeoJSON (either winding, holes, MultiPolygons, partly outside
    the image, edges on pixel centres); its mask of each feature equals pycocotools' rasterisation
    of the same rings (even-odd within a polygon, union over a MultiPolygon).

Hole convention of mifa's traced polygons (used in check 1 --polygons, where holes are filled):
objects are 4-connected parts and the background is 8-connected, so a hole is a background
region that is not 8-connected to the outside of the object's bounding box (a ring closed only
by a diagonal step encloses no hole: its inside touches the outside through that corner).
"""
import contextlib, io, json, os, subprocess, sys
import numpy as np
import tifffile
import geojson
import shapely
from shapely.geometry import shape, mapping, Point, Polygon, MultiPolygon, box
from shapely.geometry.polygon import orient
from shapely.validation import explain_validity
from pycocotools.coco import COCO
from pycocotools import mask as M

MIFA = ANNOTATION_MASKS = WORK = None
SIZES = [(96, 128), (64, 64), (200, 150)]  # (height, width) of img0, img1, img2
PROBLEMS = []  # (check, message)


class Check:
    """Collects the problems of one check; the script goes on so that one run lists them all."""

    def __init__(self, name):
        self.name, self.problems, self.shown = name, 0, 0

    def fail(self, msg):
        self.problems += 1
        PROBLEMS.append((self.name, msg))
        if self.shown < 15:
            print(f"  FAIL [{self.name}] {msg}")
            self.shown += 1

    def expect(self, cond, msg):
        if not cond:
            self.fail(msg() if callable(msg) else msg)
        return bool(cond)


def run(*args):
    r = subprocess.run([str(a) for a in args], capture_output=True, text=True)
    if r.returncode != 0:
        sys.exit(f"FAIL command exited {r.returncode}: {' '.join(map(str, args))}\n{r.stdout}{r.stderr}")
    return r.stdout


def mifa(*args):
    return run(MIFA, *args)


def masks_of(kind, path, *hw):
    return json.loads(run(ANNOTATION_MASKS, kind, path, *hw))


def load_coco(path):
    with contextlib.redirect_stdout(io.StringIO()):  # pycocotools prints progress
        return COCO(path)


def counts_str(rle):
    c = rle["counts"]
    return c.decode() if isinstance(c, bytes) else c


def encode(mask):
    return M.encode(np.asfortranarray(mask.astype(np.uint8)))


def decode_counts(counts, h, w):
    return M.decode({"size": [h, w], "counts": counts.encode()}).astype(bool)


def fortran_runs(mask):
    """Uncompressed COCO RLE counts: run lengths of the column-major mask, starting with zeros."""
    f = mask.ravel(order="F").astype(np.uint8)
    bounds = np.r_[0, np.flatnonzero(np.diff(f)) + 1, f.size]
    runs = np.diff(bounds).tolist()
    return ([0] + runs) if f.size and f[0] else runs


def ring_mask(ring, h, w):
    """pycocotools' rasterisation of one ring (flat [x0, y0, x1, y1, ...])."""
    return M.decode(M.frPyObjects([list(map(float, ring))], h, w)[0]).astype(bool)


def box_mask(b, h, w):
    x, y, bw, bh = map(float, b)
    return ring_mask([x, y, x, y + bh, x + bw, y + bh, x + bw, y], h, w)


def geometry_mask(g, h, w):
    """Rings XOR within a polygon, OR across the polygons of a MultiPolygon (pycocotools)."""
    out = np.zeros((h, w), bool)
    for p in getattr(g, "geoms", [g]):
        m = np.zeros((h, w), bool)
        for r in [p.exterior, *p.interiors]:
            m ^= ring_mask(np.asarray(r.coords)[:-1].ravel(), h, w)
        out |= m
    return out


def fill_holes(mask):
    """`mask` with its holes filled: background not 8-connected to the outside of its box."""
    ys, xs = np.nonzero(mask)
    if ys.size == 0:
        return mask.copy()
    y0, y1, x0, x1 = ys.min(), ys.max() + 1, xs.min(), xs.max() + 1
    free = ~np.pad(mask[y0:y1, x0:x1], 1)
    out = np.zeros_like(free)
    out[0, :] = out[-1, :] = out[:, 0] = out[:, -1] = True
    while True:
        d = out.copy()
        d[1:, :] |= out[:-1, :]
        d[:-1, :] |= out[1:, :]
        d[:, 1:] |= out[:, :-1]
        d[:, :-1] |= out[:, 1:]
        d[1:, 1:] |= out[:-1, :-1]
        d[:-1, :-1] |= out[1:, 1:]
        d[1:, :-1] |= out[:-1, 1:]
        d[:-1, 1:] |= out[1:, :-1]
        d &= free
        if (d == out).all():
            break
        out = d
    filled = mask.copy()
    filled[y0:y1, x0:x1] = ~out[1:-1, 1:-1]
    return filled


# ---------------------------------------------------------------------------------------------
# Test masks.

# Hard cases, '.' background, letters distinct objects (a letter repeated in one pattern is one
# label value, possibly in several 4-connected parts).
PATTERNS = [
    # ring closed only by a diagonal step at a corner (its inside is not a hole)
    [".aaaa", "a...a", "a...a", "a...a", "aaaaa"],
    # ring closed only by a diagonal step in a side
    ["aaa..", "a..aa", "a...a", "aaaaa"],
    # thick object with a one-pixel hole and a bigger hole, and a diagonal neighbour
    ["aaaaaaa.", "aaaaaaa.", "aa.aaaa.", "aaaa..a.", "aaaa..a.", "aaaaaaa.", ".......b"],
    # two holes touching each other diagonally
    ["aaaaa", "a.aaa", "aa.aa", "aaaaa"],
    # a hole touching the outside at a corner and another hole diagonally
    ["aaaaaa", "a.aaaa", "aa.aaa", "aaaa.a", "aaaaaa"],
    # nested: a hole holding another holed object and an island of the same value
    ["aaaaaaaaa", "a.......a", "a.bbb...a", "a.b.b.a.a", "a.bbb...a", "a.......a", "aaaaaaaaa"],
    # two objects in a 2x2 checkerboard (each of two diagonal pixels)
    ["ab", "ba"],
    # two blocks touching diagonally
    ["aa..", "aa..", "..bb", "..bb"],
    # one value in a checkerboard: eight one-pixel parts
    ["a.a.", ".a.a", "a.a.", ".a.a"],
    # figure eight: two holed parts of one value touching at a corner
    ["aaa...", "a.a...", "aaa...", "...aaa", "...a.a", "...aaa"],
    # spiral
    ["aaaaaaa", "a.....a", "a.aaa.a", "a.a.a.a", "a.a...a", "a.aaaaa"],
    # single pixels, a one-pixel-wide L
    ["a.b", "...", "c.d"],
    ["a....", "a....", "aaaaa"],
]


class Values:
    """Unique label values across all images (so exported ids can be unique across the file)."""

    def __init__(self, rng):
        self.pool = [65535] + rng.choice(np.arange(1, 65535), size=4000, replace=False).tolist()

    def take(self):
        return int(self.pool.pop(0))


def make_labels(rng, h, w, values):
    lab = np.zeros((h, w), np.uint16)
    yy, xx = np.mgrid[0:h, 0:w]
    # random rotated ellipses, painted over each other (some cut into parts, some at the border)
    for _ in range(int(rng.integers(12, 25))):
        cy, cx = rng.uniform(-5, h + 5), rng.uniform(-5, w + 5)
        a, b, t = rng.uniform(1.5, 16), rng.uniform(1.0, 9), rng.uniform(0, np.pi)
        u = (xx - cx) * np.cos(t) + (yy - cy) * np.sin(t)
        v = -(xx - cx) * np.sin(t) + (yy - cy) * np.cos(t)
        e = (u / a) ** 2 + (v / b) ** 2 <= 1
        if e.any():
            lab[e] = values.take()
        if rng.random() < 0.3:  # an annulus: object with a hole
            inner = (u / (a * 0.5)) ** 2 + (v / (b * 0.5)) ** 2 <= 1
            lab[inner] = 0
    # 1-px lines: a full row and a full column (touching two borders each), a diagonal
    lab[int(rng.integers(0, h)), :] = values.take()
    lab[:, int(rng.integers(0, w))] = values.take()
    v = values.take()
    y0, x0 = int(rng.integers(0, h // 2)), int(rng.integers(0, w // 2))
    for i in range(min(h - y0, w - x0, 30)):
        lab[y0 + i, x0 + i] = v
    # hard cases at random free places (corners reserved for single pixels)
    used = np.zeros((h, w), bool)
    used[0, 0] = used[-1, -1] = used[0, -1] = used[-1, 0] = True
    for pat in PATTERNS:
        ph, pw = len(pat), len(pat[0])
        for _ in range(200):
            y, x = int(rng.integers(0, h - ph + 1)), int(rng.integers(0, w - pw + 1))
            if not used[max(y - 1, 0):y + ph + 1, max(x - 1, 0):x + pw + 1].any():
                break
        else:
            sys.exit("test data: no room for a pattern")
        used[y:y + ph, x:x + pw] = True
        ids = {c: values.take() for c in sorted(set("".join(pat)) - {"."})}
        lab[y:y + ph, x:x + pw] = [[ids.get(c, 0) for c in row] for row in pat]
    # single-pixel objects at three corners, a pixel of a bordering object's value at the fourth
    for (y, x) in [(0, 0), (h - 1, w - 1), (0, w - 1)]:
        lab[y, x] = values.take()
    return lab


def build_package(rng):
    pkg = os.path.join(WORK, "vectors-pkg")
    mifa("init", pkg, "--title", "Interop check package for vector annotations", "--license", "CC0-1.0")
    values, labels = Values(rng), {}
    for k, (h, w) in enumerate(SIZES):
        iid = f"img{k}"
        img, msk = os.path.join(WORK, f"{iid}.tif"), os.path.join(WORK, "masks", f"{iid}.tif")
        os.makedirs(os.path.dirname(msk), exist_ok=True)
        tifffile.imwrite(img, rng.integers(0, 256, (h, w), dtype=np.uint8))
        labels[iid] = make_labels(rng, h, w, values)
        tifffile.imwrite(msk, labels[iid])
        mifa("add", pkg, img, "--id", iid)
        mifa("add", pkg, "--mask", msk, "--image", iid, "--name", "cells", "--kind", "instance")
    mifa("convert", "to-polygons", pkg, "--mask", "cells", "--set", "traced")
    return pkg, labels


# ---------------------------------------------------------------------------------------------
# Check 1.

def coco_basics(c, coco, path):
    """What ../shared/validators/v_coco.py checks: ids resolve, masks have the image's size."""
    ok = True
    for a in coco.loadAnns(coco.getAnnIds()):
        img = coco.imgs.get(a["image_id"])
        if img is None or a["category_id"] not in coco.cats:
            c.fail(f"{path}: annotation {a['id']} names a missing image or category")
            ok = False
            continue
        if M.decode(coco.annToRLE(a)).shape != (img["height"], img["width"]):
            c.fail(f"{path}: annotation {a['id']}: mask size differs from the image's")
            ok = False
    ids = [a["id"] for a in coco.dataset["annotations"]]
    if len(set(ids)) != len(ids):
        c.fail(f"{path}: annotation ids not unique")
        ok = False
    return ok


def image_label(c, coco, a, labels, path):
    name = coco.imgs[a["image_id"]]["file_name"]
    stem = os.path.splitext(os.path.basename(name))[0]
    if not c.expect(stem in labels, f"{path}: image file_name {name!r} is no package image"):
        return None, None
    return stem, labels[stem]


def check_mask_export(pkg, labels):
    c = Check("1 mifa->pycocotools")
    n = {"rle": 0, "poly": 0, "poly_holed": 0, "traced_rle": 0, "traced_poly": 0}
    rle_json, poly_json, traced_json = (os.path.join(WORK, f) for f in ("cells_rle.json", "cells_poly.json", "traced.json"))
    mifa("export", pkg, "coco", rle_json, "--set", "cells")
    report = mifa("export", pkg, "coco", poly_json, "--set", "cells", "--polygons")
    mifa("export", pkg, "coco", traced_json, "--set", "traced")
    expected = {(iid, int(v)) for iid, lab in labels.items() for v in np.unique(lab) if v}
    holed = {(iid, v) for iid, v in expected if (fill_holes(labels[iid] == v) != (labels[iid] == v)).any()}
    c.expect(len(holed) >= 10, f"test data has only {len(holed)} objects with holes")
    c.expect("holes filled" in report, f"--polygons report does not say that holes were filled: {report.strip()}")

    for path, polygons in [(rle_json, False), (poly_json, True)]:
        coco = load_coco(path)
        if not coco_basics(c, coco, path):
            continue
        seen = set()
        for a in coco.loadAnns(coco.getAnnIds()):
            iid, lab = image_label(c, coco, a, labels, path)
            ml = a.get("mifa_label")
            if lab is None or not c.expect(isinstance(ml, dict) and ml.get("set") == "cells", f"{path}: annotation {a['id']} has mifa_label {ml!r}"):
                continue
            v = int(ml["value"])
            seen.add((iid, v))
            want = lab == v
            got = coco.annToMask(a).astype(bool)
            where = f"{path}: {iid} label {v} (annotation {a['id']})"
            if not polygons:
                if not c.expect(isinstance(a["segmentation"], dict), f"{where}: not RLE"):
                    continue
                ref = encode(want)
                c.expect((got == want).all(), lambda: f"{where}: annToMask differs from the label in {(got != want).sum()} pixels")
                c.expect(counts_str(a["segmentation"]) == counts_str(ref), lambda: f"{where}: counts {a['segmentation']['counts']!r}, pycocotools {counts_str(ref)!r}")
                c.expect(a["segmentation"]["size"] == list(want.shape), f"{where}: size {a['segmentation']['size']}")
                c.expect(a["area"] == float(M.area(ref)), f"{where}: area {a['area']} vs pycocotools {M.area(ref)}")
                c.expect(list(a["bbox"]) == M.toBbox(ref).tolist(), f"{where}: bbox {a['bbox']} vs pycocotools {M.toBbox(ref).tolist()}")
                n["rle"] += 1
            else:
                seg = a["segmentation"]
                if not c.expect(isinstance(seg, list) and seg and all(len(p) >= 6 and len(p) % 2 == 0 for p in seg), f"{where}: not a list of polygons"):
                    continue
                filled = fill_holes(want)
                c.expect((got == filled).all(), lambda: f"{where}: annToMask differs from the label with holes filled in {(got != filled).sum()} pixels ({(got & ~filled).sum()} extra, {(filled & ~got).sum()} missing)")
                c.expect((got >= want).all(), f"{where}: annToMask misses label pixels")
                xy = np.concatenate([np.reshape(p, (-1, 2)) for p in seg])
                c.expect(a["area"] == float(M.area(coco.annToRLE(a))), f"{where}: area {a['area']} vs pycocotools {M.area(coco.annToRLE(a))}")
                box_ = np.r_[xy.min(0), xy.max(0) - xy.min(0)].tolist()
                c.expect(list(a["bbox"]) == box_, f"{where}: bbox {a['bbox']} vs vertex extent {box_}")
                n["poly_holed" if (iid, v) in holed else "poly"] += 1
        c.expect(seen == expected, lambda: f"{path}: objects missing {sorted(expected - seen)[:5]}, unexpected {sorted(seen - expected)[:5]}")

    # The traced vector set exported: polygons for objects stored without holes, RLE for those
    # stored with holes: true holes, and background pockets that touch the outline at a pixel
    # corner (stored as holes touching the exterior, so that the GeoJSON is OGC-valid).
    stored_holed = set()
    for iid in labels:
        with open(os.path.join(pkg, "annotations", "traced", f"{iid}.geojson")) as f:
            for feat in json.load(f)["features"]:
                g = feat["geometry"]
                polys = [g["coordinates"]] if g["type"] == "Polygon" else g["coordinates"]
                if any(len(rings) > 1 for rings in polys):
                    stored_holed.add((iid, int(feat["properties"]["label"])))
    c.expect(holed <= stored_holed, lambda: f"objects with holes stored without: {sorted(holed - stored_holed)[:5]}")
    coco = load_coco(traced_json)
    if coco_basics(c, coco, traced_json):
        seen = set()
        for a in coco.loadAnns(coco.getAnnIds()):
            iid, lab = image_label(c, coco, a, labels, traced_json)
            if lab is None:
                continue
            v = int(a["id"])  # traced features are numbered by label value; unique values keep them
            seen.add((iid, v))
            want, got = lab == v, coco.annToMask(a).astype(bool)
            where = f"{traced_json}: {iid} label {v}"
            c.expect((got == want).all(), lambda: f"{where}: annToMask differs from the label in {(got != want).sum()} pixels")
            is_rle = isinstance(a["segmentation"], dict)
            c.expect(is_rle == ((iid, v) in stored_holed), f"{where}: written as {'RLE' if is_rle else 'polygons'}; stored with holes: {(iid, v) in stored_holed}")
            if is_rle:
                c.expect(counts_str(a["segmentation"]) == counts_str(encode(want)), f"{where}: RLE string differs from pycocotools'")
            c.expect(a["area"] == float(want.sum()), f"{where}: area {a['area']} vs {want.sum()} pixels")
            c.expect(list(a["bbox"]) == M.toBbox(encode(want)).tolist(), f"{where}: bbox {a['bbox']} vs {M.toBbox(encode(want)).tolist()}")
            n["traced_rle" if is_rle else "traced_poly"] += 1
        c.expect(seen == expected, lambda: f"{traced_json}: objects missing {sorted(expected - seen)[:5]}, unexpected {sorted(seen - expected)[:5]}")
    if not c.problems:
        print(f"ok  1 mifa -> pycocotools: {len(expected)} mask objects in {len(labels)} images ({len(holed)} with holes); "
              f"{n['rle']} RLE identical (strings, masks, areas, boxes), {n['poly'] + n['poly_holed']} traced polygons "
              f"({n['poly_holed']} with holes filled) rasterise exactly; traced set: {n['traced_poly']} polygons + {n['traced_rle']} RLE exact")
    return c


# ---------------------------------------------------------------------------------------------
# Checks 2 and 3: COCO files written by Python.

def star(rng, cx, cy, rmin, rmax, decimals):
    k = int(rng.integers(3, 17))
    ang = np.sort(rng.uniform(0, 2 * np.pi, k))
    r = rng.uniform(rmin, rmax, k)
    pts = np.c_[cx + r * np.cos(ang), cy + r * np.sin(ang)]
    return round_coords(pts, decimals)


def round_coords(pts, decimals):
    if decimals == "half":
        pts = np.round(pts * 2) / 2  # vertices on pixel centres and corners: ties
    elif decimals is not None:
        pts = np.round(pts, decimals)
    return [float(v) for v in pts.ravel()]


def blob_mask(rng, h, w):
    yy, xx = np.mgrid[0:h, 0:w]
    m = np.zeros((h, w), bool)
    for _ in range(int(rng.integers(1, 4))):
        cy, cx, r = rng.uniform(0, h), rng.uniform(0, w), rng.uniform(2, 15)
        m |= (yy - cy) ** 2 + (xx - cx) ** 2 <= r * r
    m ^= rng.random((h, w)) < 0.02  # speckle: isolated pixels and pin holes
    return m


def rle_segmentation(rng, m, compressed):
    if compressed:
        return {"size": list(m.shape), "counts": counts_str(encode(m))}
    return {"size": list(m.shape), "counts": fortran_runs(m)}


def coco_header(images):
    return {"info": {"description": "written by vectors_interop.py"}, "licenses": [],
            "images": images,
            "categories": [{"id": 3, "name": "nucleus", "supercategory": "cell"}, {"id": 7, "name": "membrane", "supercategory": "cell"}]}


def check_rasterisation():
    c = Check("2 rasterisation")
    rng = np.random.default_rng(2)
    images = [{"id": 10 + k, "file_name": f"r{k}.tif", "height": h, "width": w} for k, (h, w) in enumerate([(80, 100), (33, 47), (120, 90)])]
    anns, kinds = [], {}
    next_id = iter(rng.choice(np.arange(1, 10**6), size=2000, replace=False).tolist())
    for img in images:
        h, w = img["height"], img["width"]
        for i in range(120):
            kind = ["star", "star_out", "selfx", "multi", "half", "tiny", "box", "rle", "rle_u", "rle_edge"][i % 10]
            dec = [None, 0, 1, 2, 6, "half"][int(rng.integers(0, 6))]
            iscrowd = 0
            if kind == "star":
                seg = [star(rng, rng.uniform(0, w), rng.uniform(0, h), 1, 20, dec)]
            elif kind == "star_out":  # centre near or beyond a border
                cx, cy = rng.choice([rng.uniform(-10, 5), rng.uniform(w - 5, w + 10)]), rng.uniform(-10, h + 10)
                seg = [star(rng, cx, cy, 3, 30, dec)]
            elif kind == "selfx":  # random vertices: self-intersecting
                k = int(rng.integers(4, 12))
                seg = [round_coords(np.c_[rng.uniform(-5, w + 5, k), rng.uniform(-5, h + 5, k)], dec)]
            elif kind == "multi":
                seg = [star(rng, rng.uniform(0, w), rng.uniform(0, h), 1, 15, dec) for _ in range(int(rng.integers(2, 4)))]
            elif kind == "half":
                seg = [star(rng, rng.uniform(0, w), rng.uniform(0, h), 2, 12, "half")]
            elif kind == "tiny":  # sub-pixel polygons: often no pixel at all
                seg = [star(rng, rng.uniform(0, w), rng.uniform(0, h), 0.05, 0.8, None)]
            elif kind == "box":  # box only, no segmentation: mifa fills the box
                x, y = rng.uniform(-5, w), rng.uniform(-5, h)
                seg = []
                bbox = [float(round(x, 2)), float(round(y, 2)), float(round(rng.uniform(0.5, 30), 2)), float(round(rng.uniform(0.5, 30), 2))]
            elif kind in ("rle", "rle_u"):
                iscrowd = int(kind == "rle_u")
                seg = rle_segmentation(rng, blob_mask(rng, h, w), kind == "rle")
            else:  # empty and full masks, both encodings
                m = np.full((h, w), bool(i % 20 < 10))
                seg = rle_segmentation(rng, m, bool(i % 40 < 20))
            a = {"id": next(next_id), "image_id": img["id"], "category_id": int(rng.choice([3, 7])), "segmentation": seg, "iscrowd": iscrowd}
            if kind == "box":
                a["bbox"], a["area"] = bbox, bbox[2] * bbox[3]
            anns.append(a)
            kinds[a["id"]] = kind
    path = os.path.join(WORK, "theirs_rasterise.json")
    with open(path, "w") as f:
        json.dump({**coco_header(images), "annotations": anns}, f)
    coco = load_coco(path)
    ours = masks_of("coco", path)
    counted = {}
    for a in coco.loadAnns(coco.getAnnIds()):
        img = coco.imgs[a["image_id"]]
        h, w = img["height"], img["width"]
        if kinds[a["id"]] == "box":
            ref = encode(box_mask(a["bbox"], h, w))
        else:
            ref = coco.annToRLE(a)
            ref = encode(M.decode(ref))  # canonical compressed form
        mine = ours.get(str(a["id"]))
        where = f"{path}: annotation {a['id']} ({kinds[a['id']]})"
        if not c.expect(mine is not None, f"{where}: annotation_masks gave no mask"):
            continue
        if not c.expect(mine["counts"] == counts_str(ref), lambda: f"{where}: {(decode_counts(mine['counts'], h, w) != M.decode(ref).astype(bool)).sum()} pixels differ from pycocotools; segmentation {a['segmentation']!r}"[:600]):
            continue
        c.expect(mine["area"] == int(M.area(ref)) and mine["bbox"] == M.toBbox(ref).tolist(), f"{where}: area/bbox {mine['area']} {mine['bbox']} vs {M.area(ref)} {M.toBbox(ref).tolist()}")
        counted[kinds[a["id"]]] = counted.get(kinds[a["id"]], 0) + 1
    c.expect(len(ours) == len(anns), f"annotation_masks gave {len(ours)} masks for {len(anns)} annotations")
    if not c.problems:
        print(f"ok  2 COCO objects written by Python: {len(anns)} masks made by mifa byte-identical to pycocotools annToRLE "
              f"({', '.join(f'{k} {v}' for k, v in sorted(counted.items()))})")
    return c


def simple_star(rng, h, w, cx, cy, rmax):
    """A simple (star-shaped) polygon inside the image, checked with shapely."""
    while True:
        pts = np.reshape(star(rng, cx, cy, 1.5, rmax, [None, 1, 2, "half"][int(rng.integers(0, 4))]), (-1, 2))
        pts = pts[(pts != np.roll(pts, 1, axis=0)).any(axis=1)]  # no repeated vertices (mifa drops them)
        ring = [float(v) for v in pts.ravel()]
        p = Polygon(pts)
        if p.is_valid and p.area > 1 and box(0.5, 0.5, w - 0.5, h - 0.5).contains(p):
            return ring, p


def check_import_coco(pkg, labels):
    c = Check("3 pycocotools->mifa->pycocotools")
    rng = np.random.default_rng(3)
    images = [{"id": 500 + 7 * k, "file_name": f"img{k}.tif", "height": h, "width": w} for k, (h, w) in enumerate(SIZES)]
    anns, kinds = [], {}
    next_id = iter(rng.choice(np.arange(1, 10**6), size=1000, replace=False).tolist())
    for img in images:
        h, w = img["height"], img["width"]
        for i in range(30):
            kind = ["poly", "multi", "rle", "rle_u", "box"][i % 5]
            iscrowd = 0
            if kind == "poly":
                seg = [simple_star(rng, h, w, rng.uniform(12, w - 12), rng.uniform(12, h - 12), 11)[0]]
            elif kind == "multi":  # disjoint parts
                while True:
                    parts = [simple_star(rng, h, w, rng.uniform(8, w - 8), rng.uniform(8, h - 8), 7) for _ in range(int(rng.integers(2, 4)))]
                    if all(p.distance(q) > 1 for j, (_, p) in enumerate(parts) for (_, q) in parts[j + 1:]):
                        break
                seg = [r for r, _ in parts]
            elif kind in ("rle", "rle_u"):
                iscrowd = int(kind == "rle_u")
                seg = rle_segmentation(rng, blob_mask(rng, h, w), kind == "rle")
            else:
                seg = []
                bbox = [float(rng.integers(0, w - 20)), float(rng.integers(0, h - 20)), float(rng.integers(1, 20)), float(rng.integers(1, 20))]
            a = {"id": next(next_id), "image_id": img["id"], "category_id": int(rng.choice([3, 7])), "segmentation": seg, "iscrowd": iscrowd}
            if kind == "box":
                a["bbox"], a["area"] = bbox, bbox[2] * bbox[3]
            else:
                rle = M.merge(M.frPyObjects(seg, h, w)) if isinstance(seg, list) else M.frPyObjects(seg, h, w) if isinstance(seg["counts"], list) else seg
                a["bbox"], a["area"] = M.toBbox(rle).tolist(), float(M.area(rle))
            anns.append(a)
            kinds[a["id"]] = kind
    theirs_path, back_path = os.path.join(WORK, "theirs_import.json"), os.path.join(WORK, "back.json")
    with open(theirs_path, "w") as f:
        json.dump({**coco_header(images), "annotations": anns}, f)
    mifa("import", pkg, "coco", theirs_path, "--set", "theirs")
    mifa("export", pkg, "coco", back_path, "--set", "theirs")
    theirs, back = load_coco(theirs_path), load_coco(back_path)
    coco_basics(c, back, back_path)
    counted = {}
    for a in theirs.loadAnns(theirs.getAnnIds()):
        where = f"annotation {a['id']} ({kinds[a['id']]})"
        b = back.anns.get(a["id"])
        if not c.expect(b is not None, f"{where}: missing from {back_path} (ids not kept)"):
            continue
        ti, bi = theirs.imgs[a["image_id"]], back.imgs.get(b["image_id"], {})
        c.expect(bi.get("file_name") == ti["file_name"], f"{where}: image {bi.get('file_name')!r}, was {ti['file_name']!r}")
        c.expect(back.cats.get(b["category_id"], {}).get("name") == theirs.cats[a["category_id"]]["name"], f"{where}: category changed")
        h, w = ti["height"], ti["width"]
        want = box_mask(a["bbox"], h, w) if kinds[a["id"]] == "box" else theirs.annToMask(a).astype(bool)
        got = box_mask(b["bbox"], h, w) if b["segmentation"] == [] else back.annToMask(b).astype(bool)
        c.expect((got == want).all(), lambda: f"{where}: {(got != want).sum()} pixels differ after import and export")
        kind = kinds[a["id"]]
        if kind.startswith("rle"):
            c.expect(isinstance(b["segmentation"], dict), f"{where}: RLE came back as {type(b['segmentation']).__name__}")
            c.expect(b["area"] == float(want.sum()) and list(b["bbox"]) == M.toBbox(encode(want)).tolist(), f"{where}: area/bbox {b['area']} {b['bbox']}")
        elif kind in ("poly", "multi"):
            if c.expect(isinstance(b["segmentation"], list), f"{where}: polygon came back as {type(b['segmentation']).__name__}"):
                # Vertices kept; a ring may come back reversed (the package stores polygons as
                # GeoJSON, exteriors counter-clockwise), which COCO does not distinguish.
                same = len(b["segmentation"]) == len(a["segmentation"]) and all(
                    q == p or np.array_equal(np.reshape(q, (-1, 2)), np.reshape(p, (-1, 2))[::-1])
                    for p, q in zip(a["segmentation"], b["segmentation"]))
                c.expect(same, f"{where}: vertices changed: {b['segmentation']} vs {a['segmentation']}"[:400])
                c.expect(b["area"] == float(M.area(back.annToRLE(b))), f"{where}: area {b['area']} vs pycocotools {M.area(back.annToRLE(b))}")
                xy = np.concatenate([np.reshape(p, (-1, 2)) for p in b["segmentation"]])
                c.expect(list(b["bbox"]) == np.r_[xy.min(0), xy.max(0) - xy.min(0)].tolist(), f"{where}: bbox {b['bbox']} is not the vertex extent")
        else:
            c.expect(list(b["bbox"]) == a["bbox"], f"{where}: box {b['bbox']} vs {a['bbox']}")
        counted[kind] = counted.get(kind, 0) + 1
    c.expect(len(back.anns) == len(anns), f"{back_path} has {len(back.anns)} annotations, {len(anns)} imported")
    if not c.problems:
        print(f"ok  3 pycocotools-style COCO imported and exported: {len(anns)} objects kept (ids, images, categories, "
              f"masks identical; {', '.join(f'{k} {v}' for k, v in sorted(counted.items()))})")
    return c


# ---------------------------------------------------------------------------------------------
# Check 4.

def check_geojson_file(c, path, h, w, lab=None):
    """RFC 7946 structure and OGC validity; with `lab`, each feature against its label."""
    with open(path) as f:
        obj = geojson.load(f)
    if not c.expect(obj.is_valid, lambda: f"{path}: geojson says invalid: {obj.errors()}"):
        return 0
    c.expect(obj.get("type") == "FeatureCollection", f"{path}: not a FeatureCollection")
    seen, n = set(), 0
    for i, feat in enumerate(obj["features"]):
        where = f"{path}: feature {feat.get('id', '#' + str(i + 1))}"
        g = shape(feat["geometry"])
        if not c.expect(g.geom_type in ("Polygon", "MultiPolygon"), f"{where}: {g.geom_type}"):
            continue
        c.expect(g.is_valid, lambda: f"{where}: shapely: {explain_validity(g)}")
        for p in getattr(g, "geoms", [g]):
            c.expect(p.exterior.is_ccw, f"{where}: exterior ring clockwise (RFC 7946 right-hand rule wants counter-clockwise)")
            c.expect(not any(r.is_ccw for r in p.interiors), f"{where}: hole counter-clockwise (RFC 7946 wants clockwise)")
        for ring in [r for p in getattr(g, "geoms", [g]) for r in [p.exterior, *p.interiors]]:
            c.expect(ring.coords[0] == ring.coords[-1], f"{where}: ring not closed")
        if lab is not None:
            v = feat.get("properties", {}).get("label")
            if not c.expect(isinstance(v, int) and (lab == v).any(), f"{where}: properties.label {v!r} is no label value"):
                continue
            seen.add(v)
            want = lab == v
            c.expect(feat.get("id") == v, f"{where}: id is not the label {v}")
            c.expect(g.area == float(want.sum()), f"{where}: shapely area {g.area} vs {want.sum()} pixels of label {v}")
            got = geometry_mask(g, h, w)
            c.expect((got == want).all(), lambda: f"{where}: pycocotools rasterisation differs from label {v} in {(got != want).sum()} pixels")
        n += 1
    if lab is not None:
        want = {int(v) for v in np.unique(lab) if v}
        c.expect(seen == want, f"{path}: labels without a feature {sorted(want - seen)[:5]}, unexpected {sorted(seen - want)[:5]}")
    return n


def check_geojson_written(pkg, labels):
    c = Check("4 GeoJSON validity")
    out = os.path.join(WORK, "geojson-export")
    mifa("export", pkg, "geojson", out, "--set", "cells", "--set", "traced")
    files = feats = 0
    for iid, lab in labels.items():
        h, w = lab.shape
        for path in [os.path.join(pkg, "annotations", "traced", f"{iid}.geojson"),
                     os.path.join(out, "traced", f"{iid}.geojson"), os.path.join(out, "cells", f"{iid}.geojson")]:
            feats += check_geojson_file(c, path, h, w, lab)
            files += 1
    if not c.problems:
        print(f"ok  4 GeoJSON written by mifa: {files} files, {feats} features valid (geojson, shapely), RFC 7946 winding, "
              f"areas equal pixel counts, pycocotools rasterisation equals the labels")
    return c


# ---------------------------------------------------------------------------------------------
# Check 5.

def check_shapely_import(pkg):
    c = Check("5 shapely->mifa")
    rng = np.random.default_rng(5)
    h, w = SIZES[0]
    geoms = []
    for i in range(60):
        kind = i % 6
        cx, cy = rng.uniform(0, w), rng.uniform(0, h)
        if kind in (0, 1, 2):  # disc with holes
            r = rng.uniform(4, 22)
            p = Point(cx, cy).buffer(r, quad_segs=int(rng.integers(2, 16)))
            for _ in range(int(rng.integers(1, 4))):
                d, a, r2 = rng.uniform(0, r * 0.6), rng.uniform(0, 2 * np.pi), rng.uniform(0.5, r * 0.35)
                if d + r2 < r - 1:
                    p = p.difference(Point(cx + d * np.cos(a), cy + d * np.sin(a)).buffer(r2, quad_segs=int(rng.integers(1, 8))))
        elif kind == 3:  # boxes with a box hole, edges on pixel centres or corners
            x0, y0 = np.round(rng.uniform(-5, w - 5) * 2) / 2, np.round(rng.uniform(-5, h - 5) * 2) / 2
            bw, bh = np.round(rng.uniform(6, 30) * 2) / 2, np.round(rng.uniform(6, 30) * 2) / 2
            p = box(x0, y0, x0 + bw, y0 + bh).difference(box(x0 + 2, y0 + 2.5, x0 + bw - 2.5, y0 + bh - 2))
        else:  # MultiPolygon of disjoint parts, one with a hole
            parts = []
            for _ in range(int(rng.integers(2, 4))):
                q = Point(rng.uniform(0, w), rng.uniform(0, h)).buffer(rng.uniform(2, 9), quad_segs=int(rng.integers(2, 10)))
                if not any(q.distance(o) < 1 for o in parts):
                    parts.append(q)
            parts[0] = parts[0].difference(parts[0].centroid.buffer(1.2))
            p = MultiPolygon(parts) if len(parts) > 1 else parts[0]
        if p.is_empty or not p.is_valid:
            continue
        sign = -1.0 if rng.random() < 0.5 else 1.0  # either winding must be accepted
        p = MultiPolygon([orient(q, sign) for q in p.geoms]) if p.geom_type == "MultiPolygon" else orient(p, sign)
        geoms.append(p)
    fc = {"type": "FeatureCollection",
          "features": [{"type": "Feature", "id": 201 + i, "geometry": mapping(g), "properties": {"class": "x"}} for i, g in enumerate(geoms)]}
    src = os.path.join(WORK, "shapely.geojson")
    with open(src, "w") as f:
        json.dump(fc, f)
    mifa("import", pkg, "geojson", src, "--image", "img0", "--set", "shp")
    stored = os.path.join(pkg, "annotations", "shp", "img0.geojson")
    check_geojson_file(c, stored, h, w)
    with open(stored) as f:
        back = {feat["id"]: feat for feat in json.load(f)["features"]}
    ours = masks_of("geojson", stored, h, w)
    holes = multi = cw = 0
    for i, g in enumerate(geoms):
        fid = 201 + i
        where = f"{src}: feature {fid} ({g.geom_type})"
        b = back.get(fid)
        if not c.expect(b is not None, f"{where}: missing from {stored}"):
            continue
        c.expect(shape(b["geometry"]).equals(g), f"{where}: stored geometry is not the one imported")
        cls = b.get("properties", {}).get("classification", {})
        c.expect(isinstance(cls, dict) and cls.get("name") == "x", f"{where}: class {b.get('properties')!r}")
        want = geometry_mask(g, h, w)
        mine = ours.get(str(fid))
        if not c.expect(mine is not None, f"{where}: annotation_masks gave no mask"):
            continue
        got = decode_counts(mine["counts"], h, w)
        c.expect((got == want).all(), lambda: f"{where}: mifa mask differs from pycocotools (rings XOR, parts OR) in {(got != want).sum()} pixels")
        c.expect(mine["counts"] == counts_str(encode(want)), f"{where}: RLE string differs from pycocotools'")
        polys = list(getattr(g, "geoms", [g]))
        holes += sum(len(p.interiors) for p in polys)
        multi += g.geom_type == "MultiPolygon"
        cw += not polys[0].exterior.is_ccw
    if not c.problems:
        print(f"ok  5 shapely GeoJSON read by mifa: {len(geoms)} features ({multi} MultiPolygons, {holes} holes, "
              f"{cw} with clockwise exteriors); stored valid with RFC 7946 winding, geometry kept, masks identical to pycocotools")
    return c


def main():
    global MIFA, ANNOTATION_MASKS, WORK
    if len(sys.argv) != 4:
        sys.exit(__doc__)
    MIFA, ANNOTATION_MASKS = os.path.abspath(sys.argv[1]), os.path.abspath(sys.argv[2])
    WORK = os.path.join(os.path.abspath(sys.argv[3]), "vectors")
    os.makedirs(WORK, exist_ok=True)
    pkg, labels = build_package(np.random.default_rng(1))
    checks = [check_mask_export(pkg, labels), check_rasterisation(), check_import_coco(pkg, labels),
              check_geojson_written(pkg, labels), check_shapely_import(pkg)]
    failed = [c for c in checks if c.problems]
    if failed:
        sys.exit("FAIL vector annotation interop: " + "; ".join(f"check {c.name}: {c.problems} problem(s)" for c in failed))
    print(f"vector annotation interop: {len(checks)} checks passed (shapely {shapely.__version__}, geojson {geojson.__version__ if hasattr(geojson, '__version__') else '?'})")


if __name__ == "__main__":
    main()
