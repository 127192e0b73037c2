"""Regenerates formats/manifest/{valid,invalid}/: one complete package, and variants that each
differ from it in one way. Run from the repository root: python3 formats/manifest/make_fixtures.py

The image is source/nuclei.ome.zarr: a 16x16 crop of examples/data/dsb2018/img2d.tif written by
`mifa add … --pixel-size 0.65`. Each invalid fixture has expected.txt: a part of the error message.
"""
import copy, json, os, shutil

ROOT = os.path.dirname(os.path.abspath(__file__))
IMAGE = os.path.join(ROOT, "source", "nuclei.ome.zarr")

complete = {
    "format_version": "0.1",
    "study": {
        "title": "Nuclei of U2OS and HeLa cells from the 2018 Data Science Bowl",
        "description": "Fluorescence images of DAPI/Hoechst-stained nuclei with expert instance masks, for training and benchmarking nucleus segmentation.",
        "keywords": [{"label": "cell nucleus", "curie": "GO:0005634"}, {"label": "instance segmentation"}],
        "license": "CC0-1.0",
        "release_date": "2025-01-31",
        "funding_statement": "Supported by the example foundation.",
        "authors": [{"name": "Josiah Carberry", "orcid": "0000-0002-1825-0097", "email": "josiah@example.org",
                     "affiliation": "Brown University", "roles": ["corresponding author", "curator"]}],
        "publications": [{"title": "Nucleus segmentation across imaging experiments: the 2018 Data Science Bowl",
                          "doi": "10.1038/s41592-019-0612-7", "year": 2019}],
        "funding": [{"funder": "Example foundation", "grant_id": "EX-1"}],
        "models": [{"name": "StarDist 2D versatile fluo", "url": "https://github.com/stardist/stardist"}],
    },
    "rembi": {
        "study_components": [{"id": "main", "name": "Fluorescent nuclei", "description": "All images of the stage 1 training set used here."}],
        "biosamples": [{"id": "u2os", "title": "U2OS cells",
                        "organisms": [{"scientific_name": "Homo sapiens", "common_name": "human", "ncbi_taxon": 9606}],
                        "biological_entity": "U2OS cells", "description": "Cultured osteosarcoma cells", "intrinsic_variables": ["none"]}],
        "specimens": [{"id": "fixed", "title": "Fixed, Hoechst", "sample_preparation_protocol": "Fixed with PFA, stained with Hoechst 33342.",
                       "growth_protocol": "DMEM, 10% FBS"}],
        "acquisitions": [{"id": "widefield", "title": "Widefield", "instrument": "ImageXpress Micro",
                          "imaging_method": {"label": "widefield microscopy", "curie": "FBbi:00000243"},
                          "parameters": "20x objective, 0.65 um pixels"}],
    },
    "images": [{"id": "nuclei", "path": "images/nuclei.ome.zarr",
                "axes": [{"name": "y", "type": "space", "unit": "micrometer", "scale": 0.65},
                         {"name": "x", "type": "space", "unit": "micrometer", "scale": 0.65}],
                "shape": [16, 16], "dtype": "uint16", "source": "nuclei.tif"}],
    "classes": [{"id": 1, "name": "nucleus", "color": [230, 60, 60], "term": {"label": "cell nucleus", "curie": "GO:0005634"}}],
    "annotation_sets": [{
        "id": "nuclei-outlines", "title": "Nucleus outlines", "overview": "Every nucleus outlined as a polygon.",
        "types": ["geometrical_annotations"],
        "authors": [{"name": "Josiah Carberry", "orcid": "0000-0002-1825-0097", "email": "josiah@example.org", "roles": ["annotator"]}],
        "method": {"kind": "semi_automatic", "description": "Traced from expert masks, reviewed by hand.",
                   "software": [{"name": "QuPath", "version": "0.5.1"}]},
        "confidence": "Reviewed by a second annotator; 98% agreement",
        "criteria": "Outline every nucleus touching the image, including those cut by the border.",
        "transformations": "none",
        "spatial": {"units": "pixel", "description": "level 0 pixels, origin at the top-left corner of the top-left pixel"},
        "created": "2024-11-02T10:00:00Z",
        "files": [{"path": "annotations/nuclei-outlines/nuclei.geojson", "source_images": ["nuclei"], "types": ["geometrical_annotations"]}],
    }],
}

GEOJSON = {"type": "FeatureCollection", "features": [
    {"type": "Feature", "properties": {"classification": {"name": "nucleus"}},
     "geometry": {"type": "Polygon", "coordinates": [[[1, 1], [6, 1], [6, 6], [1, 6], [1, 1]]]}},
    {"type": "Feature", "properties": {"classification": {"name": "nucleus"}},
     "geometry": {"type": "Polygon", "coordinates": [[[8, 8], [14, 8], [14, 15], [8, 15], [8, 8]]]}}]}


def write(kind, name, doc, expected=None, raw=None, files=True, geo=None):
    d = os.path.join(ROOT, kind, name)
    shutil.rmtree(d, ignore_errors=True)
    os.makedirs(d)
    with open(os.path.join(d, "mifa.json"), "w") as f:
        f.write(raw if raw is not None else json.dumps(doc, indent=2, ensure_ascii=False) + "\n")
    if files:
        shutil.copytree(IMAGE, os.path.join(d, "images", "nuclei.ome.zarr"))
        os.makedirs(os.path.join(d, "annotations", "nuclei-outlines"))
        with open(os.path.join(d, "annotations", "nuclei-outlines", "nuclei.geojson"), "w") as f:
            json.dump(geo or GEOJSON, f, indent=1)
            f.write("\n")
    if expected:
        with open(os.path.join(d, "expected.txt"), "w") as f:
            f.write(expected + "\n")
    return d


def invalid(name, mutate, expected, geo=None):
    d = copy.deepcopy(complete)
    mutate(d)
    return write("invalid", name, d, expected, geo=geo)


for kind in ("valid", "invalid"):
    shutil.rmtree(os.path.join(ROOT, kind), ignore_errors=True)

write("valid", "complete", complete)
write("valid", "minimal", {"format_version": "0.1", "study": {"title": "A minimal package with nothing but a title", "license": "CC-BY-4.0"}}, files=False)
u = copy.deepcopy(complete)
u["study"]["x-lab-notes"] = {"freezer": 3}
u["images"][0]["acquired_by"] = "robot"
u["pipeline"] = {"name": "in-house", "steps": [1, 2]}
u["annotation_sets"][0]["coverage"] = "all"
write("valid", "unknown-keys-kept", u)
mit = copy.deepcopy(complete)
mit["study"]["license"] = "MIT"
write("valid", "discouraged-license", mit)

invalid("unknown-license", lambda d: d["study"].__setitem__("license", "CC-BY-99"), 'study.license: "CC-BY-99" is not a known SPDX licence id')
invalid("license-wrong-case", lambda d: d["study"].__setitem__("license", "cc-by-4.0"), 'did you mean "CC-BY-4.0"?')
invalid("orcid-check-digit", lambda d: d["study"]["authors"][0].__setitem__("orcid", "0000-0002-1825-0098"),
        'study.authors[0].orcid: "0000-0002-1825-0098" has check digit 8, but its first 15 digits give 7')
invalid("orcid-url", lambda d: d["annotation_sets"][0]["authors"][0].__setitem__("orcid", "https://orcid.org/0000-0002-1825-0097"),
        'annotation_sets[0].authors[0].orcid: "https://orcid.org/0000-0002-1825-0097" does not match')
invalid("duplicate-image-id", lambda d: d["images"].append(dict(d["images"][0], path="images/nuclei.ome.zarr/0/..")),
        'images[1].id: id "nuclei" is used twice in images')
invalid("duplicate-annotator", lambda d: d["annotation_sets"][0]["authors"].append(dict(d["annotation_sets"][0]["authors"][0], name="J. Carberry")),
        "ORCID 0000-0002-1825-0097 is listed twice")
invalid("dangling-biosample", lambda d: d["images"][0].__setitem__("biosample", "hela"), 'images[0].biosample: biosample "hela" does not exist (known: u2os)')
invalid("dangling-source-image", lambda d: d["annotation_sets"][0]["files"][0]["source_images"].append("nuclei2"),
        'annotation_sets[0].files[0].source_images[1]: image "nuclei2" does not exist (known: nuclei)')
invalid("path-escapes-package", lambda d: d["images"][0].__setitem__("path", "../outside.ome.zarr"), 'images[0].path: "../outside.ome.zarr" escapes the package')
invalid("absolute-path", lambda d: d["annotation_sets"][0]["files"][0].__setitem__("path", "/etc/passwd"), 'annotation_sets[0].files[0].path: "/etc/passwd" is absolute')
invalid("missing-file", lambda d: d["annotation_sets"][0]["files"][0].__setitem__("path", "annotations/nuclei-outlines/gone.geojson"),
        '"annotations/nuclei-outlines/gone.geojson" does not exist in the package')
SPLIT = {"id": "default", "method": "grouped-shuffle", "group_by": "image", "seed": 0,
         "fractions": {"train": 0.5, "val": 0.5, "test": 0.0}, "inputs_hash": "fnv1a64:0000000000000000",
         "created": "2026-11-21T00:00:00Z", "train": ["nuclei"], "val": ["nuclei"], "test": []}
invalid("split-leaks", lambda d: d.__setitem__("splits", [SPLIT]), 'splits[0]: split "default": image "nuclei" is in both train and val')
invalid("split-bad-fractions", lambda d: d.__setitem__("splits", [dict(SPLIT, val=[], fractions={"train": 0.5, "val": 0.6, "test": 0.0})]),
        "splits[0].fractions: fractions train 0.5, val 0.6, test 0: they sum to 1.1, not 1")
invalid("split-unknown-image", lambda d: d.__setitem__("splits", [dict(SPLIT, val=["nuclei2"])]),
        'split "default": val names image "nuclei2", which is not in the package')
invalid("newer-format-version", lambda d: d.__setitem__("format_version", "0.9"), 'format_version: "0.9" is newer than this mifa reads')
invalid("no-format-version", lambda d: d.pop("format_version"), "format_version: missing")
invalid("wrong-type", lambda d: d["rembi"]["biosamples"][0]["organisms"][0].__setitem__("ncbi_taxon", "human"),
        'rembi.biosamples[0].organisms[0].ncbi_taxon: "human" is not of type')
invalid("unknown-annotation-type", lambda d: d["annotation_sets"][0].__setitem__("types", ["polygons"]), 'annotation_sets[0].types[0]: "polygons" is not one of')
invalid("bad-release-date", lambda d: d["study"].__setitem__("release_date", "31/01/2025"), 'study.release_date: "31/01/2025" is not a date YYYY-MM-DD')
invalid("bad-creation-time", lambda d: d["annotation_sets"][0].__setitem__("created", "last tuesday"),
        'annotation_sets[0].created: "last tuesday" is not an RFC 3339 timestamp')
invalid("missing-title", lambda d: d["study"].pop("title"), '"title" is a required property')
invalid("axes-out-of-order", lambda d: d["images"][0].update(axes=[{"name": "y", "type": "space"}, {"name": "c", "type": "channel"}, {"name": "x", "type": "space"}], shape=[16, 2, 16]),
        'images[0].axes: axes ["y", "c", "x"] are out of order')
invalid("shape-axes-mismatch", lambda d: d["images"][0].__setitem__("shape", [16, 16, 3]), "images[0].shape: 2 axes but a shape of 3 dimensions")
invalid("shape-differs-from-ome-zarr", lambda d: d["images"][0].__setitem__("shape", [16, 17]), "images[0].shape: the manifest says [16, 17], the OME-Zarr has [16, 16]")
invalid("dtype-differs-from-ome-zarr", lambda d: d["images"][0].__setitem__("dtype", "uint8"), "images[0].dtype: the manifest says Uint8, the OME-Zarr has Uint16")
invalid("bad-email", lambda d: d["study"]["authors"][0].__setitem__("email", "josiah at example.org"), 'study.authors[0].email: "josiah at example.org" is not an e-mail address')
invalid("bad-doi", lambda d: d["study"]["publications"][0].__setitem__("doi", "https://doi.org/10.1038/s41592-019-0612-7"),
        'study.publications[0].doi: "https://doi.org/10.1038/s41592-019-0612-7": write the bare DOI')
invalid("bad-id", lambda d: d["annotation_sets"][0].__setitem__("id", "nuclei outlines"), 'annotation_sets[0].id: "nuclei outlines" does not match')
invalid("bad-unit", lambda d: d["images"][0]["axes"][0].__setitem__("unit", "um"), 'images[0].axes[0].unit: "um" is not an OME-Zarr unit')
invalid("bad-fbbi", lambda d: d["rembi"]["acquisitions"][0]["imaging_method"].__setitem__("curie", "FBbi:243"),
        'rembi.acquisitions[0].imaging_method.curie: "FBbi:243" is not an FBbi term')

invalid("unknown-class", lambda d: d.pop("classes"),
        'annotations/nuclei-outlines/nuclei.geojson: object #1: class "nucleus" is not in the package\'s classes')
invalid("duplicate-class-id", lambda d: d["classes"].append({"id": 1, "name": "mitotic nucleus"}), "classes[1].id: class id 1 is used twice")
outside = copy.deepcopy(GEOJSON)
outside["features"][1]["geometry"]["coordinates"] = [[[20, 20], [30, 20], [30, 30], [20, 20]]]
invalid("object-outside-image", lambda d: None, "annotations/nuclei-outlines/nuclei.geojson: object #2 lies wholly outside its 16×16 image", geo=outside)
short = copy.deepcopy(GEOJSON)
short["features"][0]["geometry"]["coordinates"] = [[[1, 1], [6, 1], [1, 1]]]
invalid("polygon-too-few-points", lambda d: None, "annotations/nuclei-outlines/nuclei.geojson: feature 1: exterior ring has 2 distinct points", geo=short)

d = invalid("image-not-ome-zarr", lambda d: None, "images[0].path: not a readable OME-Zarr image")
shutil.rmtree(os.path.join(d, "images", "nuclei.ome.zarr"))
os.makedirs(os.path.join(d, "images", "nuclei.ome.zarr"))
with open(os.path.join(d, "images", "nuclei.ome.zarr", "notes.txt"), "w") as f:
    f.write("not an image\n")

raw = json.dumps(complete, indent=2).replace('"license": "CC0-1.0",', '"license": "CC0-1.0"', 1)
try:
    json.loads(raw)
except json.JSONDecodeError as e:
    write("invalid", "malformed-json", None, f"mifa.json:{e.lineno}:{e.colno}: malformed JSON: expected `,` or `}}`", raw=raw)
print("fixtures written")
