"""Cell-tracking annotations: mifa imports CMSO biotracks, CTC, TrackMate XML and geff samples,
exports them, and independent implementations judge the result.

Usage: python tracks_interop.py MIFA WORK_DIR [FIXTURES]   (FIXTURES default: tests/fixtures/tracks)
Optional: BIOTRACKS_PY=python-with-biotracks (biotracks needs numpy<2, so its own venv) also runs
the CMSO reference validator on the stored set and the biotracks export.

Per sample (one line per check, "ok" or "FAIL"; exit 1 if any failed):
 1. `mifa import P tracks --from FMT` reports the object/link counts computed here independently:
    CMSO objects rows and the edges implied by the links (each link's objects sorted by frame,
    consecutive pairs, union); CTC sum(E-B+1) and sum(E-B) + #(P != 0); TrackMate <Spot> and
    <Edge> elements (ElementTree); geff nodes and edges (geff.read).
 2. the stored set P/annotations/S/tracks is a frictionless-valid data package with those counts, and
    `mifa validate P` passes.
 3. `mifa export biotracks` passes frictionless and implies the same number of edges;
    `mifa export geff` passes geff.validate_structure and geff.read gives the same counts;
    `mifa export ctc` (CTC samples) passes py-ctcmetrics' `valid`.
 4. round trips: biotracks -> mifa -> biotracks keeps the objects (ids, frames, coordinates within
    1e-9) and the implied edge set; CTC -> mifa -> CTC keeps the L B E P lines and the mask pixels.
"""
import csv, glob, json, os, re, shutil, subprocess, sys, warnings
import xml.etree.ElementTree as ET
from collections import defaultdict
import numpy as np, tifffile, geff
from frictionless import validate as fl_validate
from ctc_metrics.metrics import valid as ctc_valid
from ctc_metrics.utils.filesystem import read_tracking_file, parse_masks
from ctc_metrics.utils.representations import match

MIFA, WORK = sys.argv[1], sys.argv[2]
FIX = sys.argv[3] if len(sys.argv) > 3 else os.path.join(os.path.dirname(__file__), "..", "fixtures", "tracks")
BIOTRACKS_PY = os.environ.get("BIOTRACKS_PY")
SAMPLES = [("biotracks", f"biotracks/{n}") for n in ("TrackMate_example_1", "CellProfiler_example_1", "Mosaic_example_1", "biotracks_dp")] \
    + [("ctc", "ctc/ctc_tiny/01_RES"), ("ctc", "ctc/bacteria_TRA")] \
    + [("trackmate", f"trackmate/{n}.xml") for n in ("geff_tests", "rharkes", "hadim", "biotracks_ex1", "tiny_trackmate")] \
    + [("geff", "geff/tiny.geff"), ("geff", "geff/fake_from_tm.geff")]
passed = failed = 0


def check(sample, what, fn):
    """Runs fn (returns a detail string or raises); prints one line; returns False on failure."""
    global passed, failed
    try:
        detail = fn()
        passed += 1
        print(f"ok   {sample}: {what}" + (f" ({detail})" if detail else ""))
        return True
    except Exception as e:  # noqa: BLE001 - every problem is reported, then the run goes on
        failed += 1
        print(f"FAIL {sample}: {what}: {type(e).__name__}: {one_line(e)}")
        return False


def one_line(e):
    return " | ".join(line.strip() for line in str(e).strip().splitlines() if line.strip())[-1500:]


def mifa(*args):
    r = subprocess.run([MIFA, *map(str, args)], capture_output=True, text=True)
    if r.returncode:
        raise RuntimeError(f"mifa {' '.join(map(str, args))} exited {r.returncode}\n{r.stdout}{r.stderr}")
    return r.stdout + r.stderr


def num(s):
    """CSV cell -> int (also for integral floats such as CellProfiler's frame '1.0'), float or str."""
    try:
        return int(s)
    except ValueError:
        try:
            f = float(s)
            return int(f) if f.is_integer() else f
        except ValueError:
            return s


def descriptor(d):
    return next(p for p in (f"{d}/datapackage.json", f"{d}/dp.json") if os.path.exists(p))


def read_cmso(d):
    """(objects rows, {id: {column: value}}, implied edge set) of a CMSO data package folder."""
    res = {r["name"]: r["path"] for r in json.load(open(descriptor(d)))["resources"]}
    with open(f"{d}/{res.get('cmso_objects_table', 'objects.csv')}", newline="") as f:
        rows = list(csv.DictReader(f))
    objs = {num(r["cmso_object_id"]): {k: num(v) for k, v in r.items() if k != "cmso_object_id"} for r in rows}
    links = defaultdict(set)
    with open(f"{d}/{res.get('cmso_links_table', 'links.csv')}", newline="") as f:
        for r in csv.DictReader(f):
            links[num(r["cmso_link_id"])].add(num(r["cmso_object_id"]))
    edges = set()
    for members in links.values():
        seq = sorted(members, key=lambda o: (objs[o]["cmso_frame_id"], str(o)))
        edges |= set(zip(seq, seq[1:]))
    return len(rows), objs, edges


def ctc_txt(d):
    txt = next(p for p in (f"{d}/res_track.txt", f"{d}/man_track.txt") if os.path.exists(p))
    return {tuple(int(v) for v in line.split()) for line in open(txt) if line.strip()}


def ctc_masks(d):
    return sorted(glob.glob(f"{d}/*.tif"))


def reference_counts(fmt, src):
    if fmt == "biotracks":
        n, _, edges = read_cmso(src)
        return n, len(edges)
    if fmt == "ctc":
        t = ctc_txt(src)
        return sum(e - b + 1 for _, b, e, _ in t), sum(e - b for _, b, e, _ in t) + sum(p != 0 for *_, p in t)
    if fmt == "trackmate":
        model = ET.parse(src).getroot().find("Model")
        return len(model.find("AllSpots").findall(".//Spot")), len(model.find("AllTracks").findall(".//Edge"))
    g, _ = geff.read(src)
    return g.number_of_nodes(), g.number_of_edges()


def frictionless_ok(desc):
    report = fl_validate(desc)
    if not report.valid:
        raise AssertionError("; ".join(str(e) for e in report.flatten(["type", "rowNumber", "fieldName", "note"]))[:1500])
    return "frictionless: " + ", ".join(f"{t.name} {t.stats.get('rows')} rows" for t in report.tasks)


BIOTRACKS_CHECK = """import sys
from biotracks.validation import Validator
dp = Validator().validate(sys.argv[1])       # raises on CMSO rule violations
print(*[f"{r.descriptor['name']} {len(list(r.iter()))} rows" for r in dp.resources], sep=", ")"""


def biotracks_ok(desc):
    r = subprocess.run([BIOTRACKS_PY, "-c", BIOTRACKS_CHECK, desc], capture_output=True, text=True)
    if r.returncode:
        raise AssertionError(r.stdout + r.stderr)
    return "biotracks: " + r.stdout.strip()


def same_cmso(src, out):
    _, a, ea = read_cmso(src)
    _, b, eb = read_cmso(out)
    assert a.keys() == b.keys(), f"object ids differ: {len(a.keys() - b.keys())} lost, {len(b.keys() - a.keys())} new"
    cols = [c for c in ("cmso_frame_id", "cmso_x_coord", "cmso_y_coord", "cmso_z_coord") if c in next(iter(a.values()))]
    for i, o in a.items():
        for c in cols:
            assert c in b[i] and abs(o[c] - b[i][c]) <= 1e-9, f"object {i}: {c} {o[c]!r} -> {b[i].get(c)!r}"
    assert ea == eb, f"implied edges differ: {len(ea - eb)} lost, {len(eb - ea)} new, e.g. {sorted(ea ^ eb, key=str)[:5]}"
    return f"{len(a)} objects ({', '.join(cols)}), {len(ea)} edges"


def ctc_valid_ok(d):
    tracks, masks = read_tracking_file(next(p for p in (f"{d}/res_track.txt", f"{d}/man_track.txt") if os.path.exists(p))), parse_masks(d)
    with warnings.catch_warnings(record=True) as w:
        warnings.simplefilter("always")
        ok = ctc_valid(masks, tracks, [match(None, m)[1] for m in masks])
    assert ok, f"py-ctcmetrics: invalid; {[str(x.message) for x in w[:5]]}"
    return f"py-ctcmetrics valid: {len(tracks)} tracks, {len(masks)} frames, {len(w)} warnings"


def same_ctc(src, out):
    a, b = ctc_txt(src), ctc_txt(out)
    assert a == b, f"L B E P lines differ: {sorted(a - b)[:5]} lost, {sorted(b - a)[:5]} new"
    fa, fb = ctc_masks(src), ctc_masks(out)
    digits = 4 if len(fa) > 999 else 3
    assert [os.path.basename(f) for f in fb] == [f"mask{t:0{digits}d}.tif" for t in range(len(fa))], f"mask files {[os.path.basename(f) for f in fb][:4]}..."
    for t, (x, y) in enumerate(zip(fa, fb)):
        ma, mb = tifffile.imread(x), tifffile.imread(y)
        assert ma.shape == mb.shape and np.array_equal(ma, mb), f"frame {t}: mask pixels differ ({ma.shape} vs {mb.shape})"
    return f"{len(a)} L B E P lines, {len(fa)} frames of masks identical"


def run_sample(fmt, rel):
    name = re.sub(r"\.(xml|geff)$", "", rel).replace("/", "_")
    src, pkg, s = os.path.join(FIX, rel), os.path.join(WORK, f"pkg_{name}"), "tracks"
    if not os.path.exists(src):
        raise FileNotFoundError(f"fixture {src} is missing")
    shutil.rmtree(pkg, ignore_errors=True)
    counts = reference_counts(fmt, src)
    image = []
    mifa("init", pkg, "--title", f"Tracks interop {name}", "--license", "CC0-1.0")
    if fmt == "ctc":  # the masks become a label of an image, which must exist first
        masks = np.stack([tifffile.imread(f) for f in ctc_masks(src)])
        tifffile.imwrite(f"{WORK}/{name}.tif", ((masks > 0) * 1000 + 100).astype(np.uint16), photometric="minisblack")
        mifa("add", pkg, f"{WORK}/{name}.tif", "--axes", "tyx", "--id", "img")
        image = ["--image", "img"]

    def imported():
        out = mifa("import", pkg, "tracks", "--from", fmt, src, "--set", s, *image)
        m = re.search(r"(\d+) objects, (\d+) links", out)
        assert m, f"no 'N objects, M links' in: {out.strip()}"
        got = int(m[1]), int(m[2])
        assert got == counts, f"mifa says {got[0]} objects, {got[1]} links; expected {counts[0]}, {counts[1]}"
        return f"{counts[0]} objects, {counts[1]} links"
    if not check(rel, f"import --from {fmt}", imported):
        return

    def stored():
        d = f"{pkg}/annotations/{s}/tracks"
        n, _, _ = read_cmso(d)
        with open(f"{d}/edges.csv", newline="") as f:
            e = list(csv.DictReader(f))
        assert e == [] or {"mifa_source_id", "mifa_target_id"} <= e[0].keys(), f"edges.csv columns {list(e[0])}"
        assert (n, len(e)) == counts, f"stored {n} objects, {len(e)} edges; expected {counts}"
        return frictionless_ok(descriptor(d)) + (", " + biotracks_ok(descriptor(d)) if BIOTRACKS_PY else "")
    check(rel, "stored set (objects.csv, edges.csv, data package)", stored)
    check(rel, "mifa validate", lambda: mifa("validate", pkg) and None)

    out = f"{WORK}/{name}_biotracks"
    def cmso_export():
        shutil.rmtree(out, ignore_errors=True)
        mifa("export", pkg, "biotracks", out, "--set", s)
        n, _, e = read_cmso(out)
        assert (n, len(e)) == counts, f"export has {n} objects, {len(e)} implied edges; expected {counts}"
        return frictionless_ok(f"{out}/datapackage.json") + (", " + biotracks_ok(f"{out}/datapackage.json") if BIOTRACKS_PY else "")
    if check(rel, "export biotracks", cmso_export) and fmt == "biotracks":
        check(rel, "round trip biotracks -> mifa -> biotracks", lambda: same_cmso(src, out))

    def geff_export():
        g = f"{WORK}/{name}.geff"
        shutil.rmtree(g, ignore_errors=True)
        mifa("export", pkg, "geff", g, "--set", s)
        assert os.path.exists(f"{g}/.zgroup"), "not a zarr v2 group"
        geff.validate_structure(g)
        graph, meta = geff.read(g)
        got = graph.number_of_nodes(), graph.number_of_edges()
        assert got == counts, f"geff.read: {got}; expected {counts}"
        return f"geff {meta.geff_version}: {got[0]} nodes, {got[1]} edges"
    check(rel, "export geff", geff_export)

    if fmt == "ctc":
        out = f"{WORK}/{name}_ctc"
        def ctc_export():
            shutil.rmtree(out, ignore_errors=True)
            mifa("export", pkg, "ctc", out, "--set", s)
            return ctc_valid_ok(out)
        if check(rel, "export ctc", ctc_export):
            check(rel, "round trip CTC -> mifa -> CTC", lambda: same_ctc(src, out))


def main():
    os.makedirs(WORK, exist_ok=True)
    if not BIOTRACKS_PY:
        print("note: BIOTRACKS_PY not set, the CMSO biotracks validator is skipped (frictionless still runs)")
    for fmt, rel in SAMPLES:
        try:
            run_sample(fmt, rel)
        except Exception as e:  # noqa: BLE001 - setup failed (init/add/reference counts)
            global failed
            failed += 1
            print(f"FAIL {rel}: setup: {type(e).__name__}: {one_line(e)}")
    print(f"tracks interop: {passed} passed, {failed} failed")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
