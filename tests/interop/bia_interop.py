"""A BIA submission written by `mifa publish bia`, read by independent tools.

- every `*.ome.zarr.zip` is a valid zip (stdlib zipfile CRC check), opens with zarr-python's
  ZipStore at the zip root, validates with ome-zarr-models, and holds exactly the package's arrays;
- every file list parses as TSV (first header `Files`) and names existing files with BIA-legal paths;
  annotation lists name a `Source Image` listed by a Study Component;
- the PageTab JSON: associations resolve to section titles, references to accessions.

Usage: python bia_interop.py SUBMISSION_DIR PACKAGE_DIR
"""
import csv, json, os, re, sys, warnings, zipfile

import numpy as np
import zarr
from zarr.storage import ZipStore
from ome_zarr_models import open_ome_zarr

sub, pkg = sys.argv[1], sys.argv[2]
up = os.path.join(sub, "upload")
doc = json.load(open(os.path.join(sub, "submission.json")))
passed = 0


def ok(msg):
    global passed
    passed += 1
    print(f"ok   {msg}")


sections = []


def walk(s, parent=None):
    sections.append((s, parent))
    for c in s.get("subsections", []):
        for x in c if isinstance(c, list) else [c]:
            walk(x, s)


walk(doc["section"])
attrs = lambda s: {a["name"]: a.get("value") for a in s.get("attributes", [])}
titles = {}
accnos = {s.get("accno") for s, _ in sections}
for s, _ in sections:
    if "Title" in attrs(s):
        titles.setdefault(s["type"], set()).add(attrs(s)["Title"])
n_assoc = 0
for s, _ in sections:
    for a in s.get("attributes", []):
        if a.get("reference"):
            assert a["value"] in accnos, a
    if s["type"] == "Associations":
        for k, v in attrs(s).items():
            assert v in titles.get(k, set()), (k, v)
            n_assoc += 1
ok(f"PageTab JSON: {len(sections)} sections, {n_assoc} associations resolve to titles, references to accessions")

legal = re.compile(r"^[A-Za-z0-9!\-_.*'()]+(/[A-Za-z0-9!\-_.*'()]+)*$")
lists = {}
for s, _ in sections:
    fl = attrs(s).get("File List")
    if not fl:
        continue
    with open(os.path.join(up, fl), newline="") as f:
        rows = list(csv.reader(f, delimiter="\t", quoting=csv.QUOTE_NONE))
    assert rows[0][0] == "Files", (fl, rows[0])
    for r in rows[1:]:
        assert legal.match(r[0]), r[0]
        assert os.path.isfile(os.path.join(up, r[0])), r[0]
    lists[fl] = (s["type"], rows)
images = {r[0] for t, rows in lists.values() if t == "Study Component" for r in rows[1:]}
n_files = 0
for fl, (t, rows) in lists.items():
    if t in ("Annotation", "Annotations"):
        k = rows[0].index("Source Image")
        for r in rows[1:]:
            assert r[k] in images, (fl, r)
    n_files += len(rows) - 1
ok(f"{len(lists)} file lists (csv module): {n_files} files exist, legal paths, every Source Image is a listed image")

zips = 0
for fl, (t, rows) in lists.items():
    for r in rows[1:]:
        if not r[0].endswith(".ome.zarr.zip"):
            continue
        p = os.path.join(up, r[0])
        z = zipfile.ZipFile(p)
        assert z.testzip() is None, p
        names = z.namelist()
        assert names[0] == "zarr.json", names[:3]
        assert all(i.compress_type == zipfile.ZIP_STORED for i in z.infolist())
        assert json.loads(z.comment)["ome"]["version"]
        g = zarr.open_group(ZipStore(p, mode="r"), mode="r")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            model = open_ome_zarr(g)
        # The same arrays as in the package: the image itself, or the label image.
        if t == "Study Component":
            src = os.path.join(pkg, "images", r[0][len("images/"):-len(".zip")])
        else:
            set_id = r[0].split("/")[1]
            image = os.path.basename(r[0])[: -len(".ome.zarr.zip")]
            m = json.load(open(os.path.join(pkg, "mifa.json")))
            s = next(s for s in m["annotation_sets"] if s["id"] == set_id)
            f = next(f for f in s["files"] if image in f["source_images"] and "/labels/" in f["path"])
            src = os.path.join(pkg, f["path"])
        theirs = zarr.open_group(src, mode="r")
        levels = [d["path"] for d in g.attrs["ome"]["multiscales"][0]["datasets"]]
        for lv in levels:
            assert np.array_equal(np.asarray(g[lv][...]), np.asarray(theirs[lv][...])), (p, lv)
        assert "labels" not in g, p
        zips += 1
        ok(f"{r[0]}: zipfile CRCs, STORED, zarr.json first; zarr-python ZipStore + {type(model).__name__}; {len(levels)} level(s) identical to the package")
assert zips >= 2, zips
print(f"bia interop: {passed} passed, 0 failed")
