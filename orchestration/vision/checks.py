"""Checks on the video tables: valid detections (blocking) and the demo model's accuracy on the demo clips."""

from __future__ import annotations

import dagster as dg
import pyarrow as pa
import pyarrow.compute as pc

from orchestration.resources.lakehouse import Lakehouse
from orchestration.vision.assets import DETECTIONS_LAYER, TRUTH_TABLE
from orchestration.vision.landing import relative_sources
from vision.cameras import calibrated, read_cameras

#: Floors of the demo model on the held-out clip (tests/vision/test_trained_model.py); measured 0.94 / 0.88.
MIN_PRECISION = 0.7
MIN_RECALL = 0.6


@dg.asset_check(
    asset="detections",
    name="detections_valid",
    blocking=True,
    description=("Every detection has a confidence in [0, 1] and a class name; every detection of a calibrated "
                 "camera (4+ control points) has lon/lat and an H3 cell. A foot point that cannot be put on "
                 "the ground (above the horizon) means a wrong calibration or a false box."),
)
def detections_valid(lakehouse: Lakehouse) -> dg.AssetCheckResult:
    t = lakehouse.read(DETECTIONS_LAYER, "detections",
                       columns=["camera_id", "confidence", "class_name", "lon", "lat", "h3"])
    calibrated_ids = calibrated(read_cameras(lakehouse))
    conf = t["confidence"]
    bad_conf = int(pc.sum(pc.or_kleene(pc.or_kleene(pc.less(conf, 0.0), pc.greater(conf, 1.0)),
                                       pc.is_null(conf, nan_is_null=True))).as_py() or 0)
    no_class = int(pc.sum(pc.is_null(t["class_name"])).as_py() or 0)
    cal = t.filter(pc.is_in(t["camera_id"], value_set=pa.array(sorted(calibrated_ids), pa.string())))
    missing = pc.or_(pc.is_null(cal["lon"], nan_is_null=True),
                     pc.or_(pc.is_null(cal["lat"], nan_is_null=True), pc.is_null(cal["h3"])))
    unlocated = int(pc.sum(missing).as_py() or 0)
    passed = bad_conf == 0 and no_class == 0 and unlocated == 0
    return dg.AssetCheckResult(passed=passed, metadata={
        "rows": dg.MetadataValue.int(t.num_rows),
        "confidence_outside_0_1": dg.MetadataValue.int(bad_conf),
        "missing_class": dg.MetadataValue.int(no_class),
        "calibrated_rows": dg.MetadataValue.int(cal.num_rows),
        "calibrated_without_lonlat_h3": dg.MetadataValue.int(unlocated),
    })


@dg.asset_check(
    asset="detections",
    name="detections_match_demo_truth",
    blocking=False,
    description=(f"On the demo clips (truth/video_objects): precision >= {MIN_PRECISION} and recall >= "
                 f"{MIN_RECALL} at IoU 0.5, and the median distance between detected and true ground points. "
                 "Passes with a note when no demo clip was detected (real deployments)."),
)
def detections_match_demo_truth(lakehouse: Lakehouse) -> dg.AssetCheckResult:
    import numpy as np

    from vision.metrics import detection_metrics
    from vision.postprocess import box_iou

    if not lakehouse.exists("truth", TRUTH_TABLE):
        return dg.AssetCheckResult(passed=True, metadata={"note": "no demo truth (truth/video_objects)"})
    truth = lakehouse.read("truth", TRUTH_TABLE)
    det = lakehouse.read(DETECTIONS_LAYER, "detections", columns=[
        "source", "frame_index", "class_name", "confidence", "x1", "y1", "x2", "y2", "lon", "lat"])
    # a clip by its name under the landing root, also in rows that older lakes wrote with its absolute path
    truth = truth.set_column(truth.schema.get_field_index("source"), "source", relative_sources(truth["source"]))
    det = det.set_column(det.schema.get_field_index("source"), "source", relative_sources(det["source"]))
    det = det.filter(pc.is_in(det["source"], value_set=truth["source"].unique()))
    if det.num_rows == 0:
        return dg.AssetCheckResult(passed=True, metadata={"note": "no detections on the demo clips"})
    rows, passed, errors = [], True, []
    for source in sorted(set(truth["source"].to_pylist())):
        d = det.filter(pc.equal(det["source"], source))
        g = truth.filter(pc.equal(truth["source"], source))
        m = detection_metrics(d, g)
        ok = m["precision"] >= MIN_PRECISION and m["recall"] >= MIN_RECALL
        passed &= ok
        # ground error of each detection matched (same frame and class, best IoU >= 0.5) to a true box
        dp, gp = d.to_pandas(), g.to_pandas()
        for (f, c), dd in dp.groupby(["frame_index", "class_name"]):
            gg = gp[(gp["frame_index"] == f) & (gp["class_name"] == c)]
            if gg.empty:
                continue
            iou = box_iou(dd[["x1", "y1", "x2", "y2"]].to_numpy(float), gg[["x1", "y1", "x2", "y2"]].to_numpy(float))
            j = iou.argmax(1)
            hit = iou[np.arange(len(j)), j] >= 0.5
            lon, lat = dd["lon"].to_numpy(float)[hit], dd["lat"].to_numpy(float)[hit]
            tlon, tlat = gg["lon"].to_numpy(float)[j[hit]], gg["lat"].to_numpy(float)[j[hit]]
            dx = (lon - tlon) * 111_320.0 * np.cos(np.radians(tlat))
            errors += [float(e) for e in np.hypot(dx, (lat - tlat) * 110_574.0) if np.isfinite(e)]
        rows.append(f"| {g['camera_id'][0].as_py()} | {m['precision']:.3f} | {m['recall']:.3f} | {m['mAP50']:.3f} | "
                    f"{'yes' if ok else '**no**'} |")
    table = "| camera | precision | recall | mAP50 | ok |\n|---|---|---|---|---|\n" + "\n".join(rows)
    return dg.AssetCheckResult(passed=passed, metadata={
        "accuracy": dg.MetadataValue.md(table),
        "median_ground_error_m": dg.MetadataValue.float(float(np.median(errors)) if errors else float("nan")),
    })
