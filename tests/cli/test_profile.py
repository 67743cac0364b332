"""`edgeseg profile` and `edgeseg demo` end to end on the tiny bundle: table, JSON, CSV, plot, exit codes."""

import csv
import json

from tests.cli.test_demo import refiner_only
from tests.conftest import run_cli

PNG = b"\x89PNG\r\n\x1a\n"


def test_profile_writes_table_json_csv_and_plot(tiny_set, tmp_path):
    root, bundle = tiny_set
    out = {k: tmp_path / f"p.{k}" for k in ("json", "csv", "png")}
    r = run_cli("profile", "--bundle", str(bundle), "--source", str(root / "frames"), "--labels", str(root / "labels"),
                "--profiles", "evs01,evs07,evs14", "--frames", "10", "--json", str(out["json"]), "--csv", str(out["csv"]),
                "--plot", str(out["png"]), "--no-progress")
    assert r.returncode == 0, r.stderr
    assert "10 labelled" in r.stdout and "mIoU" in r.stdout and "evs14" in r.stdout
    data = json.loads(out["json"].read_text())
    assert set(data) >= {"machine", "rows"} and data["machine"]["cpu_count"] >= 1
    assert [row["profile"] for row in data["rows"]] == ["evs01", "evs07", "evs14"]
    assert all(row["miou"] is not None for row in data["rows"])
    with open(out["csv"]) as f:
        rows = list(csv.DictReader(f))
    assert [row["profile"] for row in rows] == ["evs01", "evs07", "evs14"] and float(rows[1]["fps"]) > 0
    assert out["png"].read_bytes()[:8] == PNG


def test_profile_bad_input_is_one_line(tiny_set, tmp_path):
    root, bundle = tiny_set
    cases = [(["--profiles", "evs99"], "evs99"), (["--labels", str(tmp_path / "none")], "labels"),
             (["--json", str(tmp_path / "missing" / "p.json")], "does not exist"), (["--frames", "1"], "--frames")]
    for extra, needle in cases:
        r = run_cli("profile", "--bundle", str(bundle), "--source", str(root / "frames"), "--no-progress", *extra)
        assert r.returncode == 2 and needle in r.stderr and "Traceback" not in r.stderr, (extra, r.stderr)
        assert len(r.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "missing").exists()


def test_demo_writes_video_json_and_plot(tiny_set, tmp_path):
    root, bundle = tiny_set
    out = tmp_path / "demo"
    r = run_cli("demo", "--bundle", str(bundle), "--source", str(root / "frames"), "--frames", "10", "--out", str(out),
                "--no-progress")
    assert r.returncode == 0, r.stderr
    assert {p.name for p in out.iterdir()} == {"overlay_evs07.mp4", "profile.json", "profile.png"}
    assert len(json.loads((out / "profile.json").read_text())["rows"]) == 3
    assert (out / "profile.png").read_bytes()[:8] == PNG
    import cv2
    cap = cv2.VideoCapture(str(out / "overlay_evs07.mp4"))
    assert int(cap.get(cv2.CAP_PROP_FRAME_COUNT)) == 10


def test_demo_with_labels_scores_every_point_and_suggests_what_works_here(tiny_set, tmp_path):
    root, bundle = tiny_set
    out = tmp_path / "demo"
    r = run_cli("demo", "--bundle", str(bundle), "--source", str(root / "frames"), "--labels", str(root / "labels"),
                "--frames", "10", "--out", str(out), "--no-progress")
    assert r.returncode == 0, r.stderr
    doc = json.loads((out / "profile.json").read_text())
    assert doc["labelled_frames"] == 10 and all(row["miou"] is not None for row in doc["rows"])
    suggestion = next(line for line in r.stdout.splitlines() if line.startswith("next: "))
    from edgeseg.runtime.io.sinks import display_available
    assert ("display://0" in suggestion) == display_available()  # headless OpenCV: a video file, not a window


def test_demo_defaults_to_labelled_camvid_val_when_the_data_is_there(camvid):
    from edgeseg.cli.demo_cmd import default_clip
    source, labels = default_clip()
    assert source.endswith("val") and labels is not None and labels.endswith("valannot")


def test_profile_defaults_to_the_points_the_bundle_can_run_and_names_the_others(tiny_set, tmp_path):
    # issue 30: on the demo's bundle `edgeseg profile` with its defaults exited 1 (grfp, gcrf, netwarp export_failed)
    root, bundle = tiny_set
    copy = refiner_only(bundle, tmp_path)
    r = run_cli("profile", "--bundle", str(copy), "--source", str(root / "frames"), "--frames", "4", "--warmup", "1",
                "--json", str(tmp_path / "p.json"), "--no-progress")
    assert r.returncode == 0, r.stderr
    notes = [line for line in r.stdout.splitlines() if "left out" in line]
    assert len(notes) == 1 and "the 15 built-in points this bundle can run" in notes[0]
    assert "gcrf (no gcrf graph), grfp (no stgru graph), netwarp (no netwarp graph)" in notes[0]
    from edgeseg.bundle import load_bundle
    from edgeseg.cli.run_cmd import offered_points
    rows = json.loads((tmp_path / "p.json").read_text())["rows"]
    assert [row["profile"] for row in rows] == offered_points(load_bundle(copy)) and all(row["status"] == "ok" for row in rows)
    # a bundle that has every graph: every built-in, and no note
    r = run_cli("profile", "--bundle", str(bundle), "--source", str(root / "frames"), "--frames", "2", "--warmup", "0",
                "--json", str(tmp_path / "all.json"), "--no-progress")
    assert r.returncode == 0 and "left out" not in r.stdout, r.stderr
    assert len(json.loads((tmp_path / "all.json").read_text())["rows"]) == 18


def test_a_point_the_plot_cannot_draw_is_named_not_dropped(tiny_set, tmp_path):
    root, bundle = tiny_set
    r = run_cli("profile", "--bundle", str(refiner_only(bundle, tmp_path)), "--source", str(root / "frames"), "--frames", "4",
                "--profiles", "evs01,grfp,evs07", "--plot", str(tmp_path / "p.png"), "--no-progress")
    assert r.returncode == 1  # grfp was asked for by name and cannot run
    assert "plot " in r.stdout and "not shown: grfp (export_failed: profile grfp" in r.stdout and "needs graph(s) stgru" in r.stdout
    assert (tmp_path / "p.png").read_bytes()[:8] == PNG


def test_profile_progress_bars_are_labelled(tiny_set):
    root, bundle = tiny_set
    r = run_cli("profile", "--bundle", str(bundle), "--source", str(root / "frames"), "--frames", "4", "--profiles", "evs07")
    assert r.returncode == 0, r.stderr
    for label in ("decoding frames (frames)", "consistency flows (Farneback)", "profiling evs07 (1/1)"):
        assert label in r.stderr, label
    assert r.stderr.index("consistency flows (Farneback): 100%") < r.stderr.index("profiling evs07 (1/1)")
