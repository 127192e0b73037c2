"""Writes formats/tracks/{valid,invalid} fixtures (run from this folder with the validators venv:
numpy + tifffile). Small hand-made inputs; each invalid one has a `.expected` sidecar holding
part of the error mifa must give."""
import json, os, shutil
import numpy as np, tifffile

def write(path, text):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:
        f.write(text)

def cmso(folder, objects, links, tracks=None, edges=None):
    shutil.rmtree(folder, ignore_errors=True)
    field = lambda n, t: {"name": n, "type": t}
    res = [
        {"name": "cmso_objects_table", "path": "objects.csv", "schema": {
            "fields": [dict(field("cmso_object_id", "integer"), constraints={"unique": True}),
                       field("cmso_frame_id", "integer"), field("cmso_x_coord", "number"),
                       field("cmso_y_coord", "number")], "primaryKey": "cmso_object_id"}},
        {"name": "cmso_links_table", "path": "links.csv", "schema": {
            "fields": [field("cmso_link_id", "integer"), field("cmso_object_id", "integer")],
            "foreignKeys": [{"fields": "cmso_object_id", "reference": {"datapackage": "", "resource": "cmso_objects_table", "fields": "cmso_object_id"}}]}},
    ]
    write(f"{folder}/objects.csv", "cmso_object_id,cmso_frame_id,cmso_x_coord,cmso_y_coord\n" + "".join(f"{r}\n" for r in objects))
    write(f"{folder}/links.csv", "cmso_link_id,cmso_object_id\n" + "".join(f"{r}\n" for r in links))
    if tracks:
        write(f"{folder}/tracks.csv", "cmso_track_id,cmso_link_id\n" + "".join(f"{r}\n" for r in tracks))
    if edges:
        res.append({"name": "mifa_edges_table", "path": "edges.csv", "schema": {"fields": [field("mifa_source_id", "integer"), field("mifa_target_id", "integer")]}})
        write(f"{folder}/edges.csv", "mifa_source_id,mifa_target_id\n" + "".join(f"{r}\n" for r in edges))
    write(f"{folder}/datapackage.json", json.dumps({"name": "cmso_tracks", "cmso_space_unit": "pixel", "cmso_time_unit": "frame", "resources": res}, indent=2) + "\n")

# A division in the CMSO convention: the mother (2) repeated at the start of each daughter link.
objs = ["1,0,10.0,10.0", "2,1,11.0,10.5", "3,2,8.0,9.0", "4,2,14.0,12.0", "5,3,8.5,9.5"]
cmso("valid/division.biotracks", objs, ["1,1", "1,2", "2,2", "2,3", "2,5", "3,2", "3,4"], ["1,1", "1,2", "1,3"])
cmso("invalid/link-unknown-object.biotracks", objs, ["1,1", "1,2", "1,9"])
write("invalid/link-unknown-object.expected", "links.csv:4: link 1 names object 9, which is not in the objects table\n")
cmso("invalid/frame-not-integer.biotracks", ["1,0,10,10", "2,1.5,11,10"], ["1,1", "1,2"])
write("invalid/frame-not-integer.expected", "objects.csv:3: cmso_frame_id is \"1.5\"; expected an integer frame\n")
cmso("invalid/link-back-in-time.biotracks", objs, ["1,1", "1,2"], edges=["2,1"])
write("invalid/link-back-in-time.expected", "link 2 -> 1 goes from frame 1 to frame 0; a parent must precede its child\n")

# CTC: a division and a gap (track 4 continues 3 after a missed frame).
def ctc(folder, lines, frames=5, skip=()):
    shutil.rmtree(folder, ignore_errors=True)
    os.makedirs(folder)
    spans = [tuple(map(int, l.split())) for l in lines if len(l.split()) == 4]
    for t in range(frames):
        if t in skip:
            continue
        m = np.zeros((24, 32), np.uint16)
        for (L, B, E, P) in spans:
            if B <= t <= E:
                y, x = 2 + 5 * (L % 4), 2 + 7 * (L // 4)
                m[y:y + 4, x:x + 5] = L
        tifffile.imwrite(f"{folder}/man_track{t:03}.tif", m, photometric="minisblack")
    write(f"{folder}/man_track.txt", "".join(f"{l}\n" for l in lines))

ctc("valid/division-and-gap.ctc", ["1 0 1 0", "2 2 4 1", "3 2 2 1", "4 4 4 3"])
ctc("invalid/wrong-column-count.ctc", ["1 0 1 0", "2 2 4"])
write("invalid/wrong-column-count.expected", "man_track.txt:2: 3 columns (\"2 2 4\"); a CTC track line is \"L B E P\"\n")
ctc("invalid/parent-after-child.ctc", ["1 0 2 0", "2 2 4 1"])
write("invalid/parent-after-child.expected", "man_track.txt:2: track 2 begins at frame 2 but its parent 1 ends at frame 2\n")
ctc("invalid/frame-missing.ctc", ["1 0 3 0"], frames=4, skip=(2,))
write("invalid/frame-missing.expected", "frame 2 has tracks but no mask file\n")

# TrackMate: two spots, one edge; then an edge to an unknown spot; then another root element.
tm = """<?xml version="1.0" encoding="UTF-8"?>
<TrackMate version="7.11.1">
  <Model spatialunits="micron" timeunits="sec">
    <AllSpots nspots="2">
      <SpotsInFrame frame="0">
        <Spot ID="10" name="ID10" POSITION_X="2.0" POSITION_Y="3.0" POSITION_Z="0.0" POSITION_T="0.0" FRAME="0" RADIUS="0.5" QUALITY="7.0" VISIBILITY="1" />
      </SpotsInFrame>
      <SpotsInFrame frame="1">
        <Spot ID="11" name="ID11" POSITION_X="2.5" POSITION_Y="3.5" POSITION_Z="0.0" POSITION_T="2.0" FRAME="1" RADIUS="0.5" QUALITY="6.0" VISIBILITY="1" />
      </SpotsInFrame>
    </AllSpots>
    <AllTracks>
      <Track name="Track_0" TRACK_ID="0" NUMBER_SPOTS="2">
        <Edge SPOT_SOURCE_ID="10" SPOT_TARGET_ID="@T@" LINK_COST="1.5" />
      </Track>
    </AllTracks>
    <FilteredTracks>
      <TrackID TRACK_ID="0" />
    </FilteredTracks>
  </Model>
  <Settings>
    <ImageData filename="movie.tif" folder="" width="16" height="16" nslices="1" nframes="2" pixelwidth="0.5" pixelheight="0.5" voxeldepth="1.0" timeinterval="2.0" />
  </Settings>
</TrackMate>
"""
write("valid/two-spots.xml", tm.replace("@T@", "11"))
write("invalid/edge-to-unknown-spot.xml", tm.replace("@T@", "12"))
write("invalid/edge-to-unknown-spot.expected", "edge-to-unknown-spot.xml:14: an edge of track 0 names SPOT_TARGET_ID 12, which is not a spot in AllSpots\n")
write("invalid/not-trackmate.xml", "<?xml version=\"1.0\"?>\n<Tracks>\n</Tracks>\n")
write("invalid/not-trackmate.expected", "not-trackmate.xml:2: the root element is <Tracks>, not <TrackMate>\n")

# geff: a copy of geff's own tiny sample, and one whose time axis is gone.
shutil.rmtree("invalid/no-time-axis.geff", ignore_errors=True)
shutil.copytree("valid/tiny.geff", "invalid/no-time-axis.geff")
attrs = json.load(open("invalid/no-time-axis.geff/.zattrs"))
attrs["geff"]["axes"] = [a for a in attrs["geff"]["axes"] if a["type"] != "time"]
json.dump(attrs, open("invalid/no-time-axis.geff/.zattrs", "w"), indent=2)
write("invalid/no-time-axis.expected", "no axis of type time; tracks need one\n")
