"""Baseline for mifa's CTC side-by-side: geff's own converter, `geff.convert.from_ctc_to_geff`.
It reads every mask TIFF, takes regionprops centroids, links them (label runs + the P column of
man_track.txt) and writes a geff (zarr v2) -- with `segmentation_store` it also copies the masks
into a (T, Y, X) zarr array, chunks of one frame, as mifa writes them into an OME-Zarr label.
Usage: python ctc_geff.py CTC_DIR [--repeat 3] [--no-seg] [--work DIR]
Prints one JSON object: best and all wall-clock times of the conversion call (imports excluded,
each run into a fresh folder), peak RSS of the process, and the node/edge counts of the result.
"""
import argparse, json, os, resource, shutil, sys, tempfile, time
from importlib.metadata import version
from pathlib import Path


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("ctc_dir")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--no-seg", action="store_true", help="graph only, do not write the masks")
    ap.add_argument("--work", help="scratch folder (default: a temporary one, removed)")
    a = ap.parse_args()

    t0 = time.perf_counter()
    import geff
    from geff.convert import from_ctc_to_geff             # lazy: pulls in dask, skimage, tifffile
    import_s = time.perf_counter() - t0

    work = Path(a.work or tempfile.mkdtemp(prefix="ctc_geff_"))
    times = []
    try:
        for i in range(a.repeat):
            out = work / f"run{i}"
            shutil.rmtree(out, ignore_errors=True)
            out.mkdir(parents=True)
            t = time.perf_counter()
            from_ctc_to_geff(Path(a.ctc_dir), out / "tracks.geff",
                             segmentation_store=None if a.no_seg else str(out / "seg.zarr"))
            times.append(time.perf_counter() - t)
        peak_rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux
        geff.validate_structure(out / "tracks.geff")
        g, _ = geff.read(out / "tracks.geff")
        size = sum(f.stat().st_size for f in out.rglob("*") if f.is_file())
    finally:
        if not a.work:
            shutil.rmtree(work, ignore_errors=True)
    print(json.dumps({
        "tool": "geff from_ctc_to_geff", "version": version("geff"), "ctc_dir": a.ctc_dir,
        "segmentation": not a.no_seg, "runs_s": [round(x, 3) for x in times],
        "best_s": round(min(times), 3), "import_s": round(import_s, 3),
        "peak_rss_mb": round(peak_rss_mb, 1), "nodes": g.number_of_nodes(),
        "edges": g.number_of_edges(), "output_mb": round(size / 1e6, 1), "cpus": os.cpu_count(),
    }))


if __name__ == "__main__":
    sys.exit(main())
