"""Pure parts of addons: label selectors, wave partitions, maintenance windows, values merging, validation."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import msgspec
import pytest
import yaml

from appmarket.addons import planner, selectors, waves, window
from appmarket.addons.schemas import AddonSpec, Override, Strategy, WaveSpec, Window
from appmarket.addons.values import deep_merge, values_for
from appmarket.errors import Invalid
from appmarket.installer.preflight import values_problems

LABELS = {"env": "prod", "region": "bj", "tier": "gold"}


@pytest.mark.parametrize(("text", "expected"), [
    ("", True), ("env=prod", True), ("env==prod", True), ("env!=prod", False), ("env!=dev", True),
    ("missing!=x", True), ("region in (bj, sh)", True), ("region in (sh)", False), ("region notin (sh,gz)", True),
    ("missing notin (a)", True), ("region notin (bj)", False), ("tier", True), ("!tier", False), ("!edge", True),
    ("env=prod,region in (bj,sh),!edge", True), ("env=prod,edge", False), ("example.com/team", False), ("env=", False),
])
def test_selector_matches(text: str, expected: bool) -> None:
    assert selectors.select(text, LABELS) is expected


@pytest.mark.parametrize("text", ["=prod", "env in bj", "env in ()", "region in (bj", "a b", "env=a=b",
                                  "region in (b j)", "!", "env=prod,,x"])
def test_selector_syntax_errors(text: str) -> None:
    with pytest.raises(Invalid, match="invalid label selector"):
        selectors.parse(text)


CLUSTERS = {f"c{i:02d}": {"region": "bj" if i % 2 else "sh"} for i in range(1, 11)}


def test_waves_by_size_percent_and_single() -> None:
    assert waves.partition(CLUSTERS, Strategy(wave_size=4)) == [
        ("wave-1", ["c01", "c02", "c03", "c04"]), ("wave-2", ["c05", "c06", "c07", "c08"]), ("wave-3", ["c09", "c10"])]
    assert [len(m) for _, m in waves.partition(CLUSTERS, Strategy(wave_percent=25))] == [3, 3, 3, 1]
    assert waves.partition(CLUSTERS, Strategy()) == [("wave-1", sorted(CLUSTERS))]
    assert waves.partition({}, Strategy(wave_size=3)) == []


def test_explicit_waves_take_names_then_selectors_and_leave_the_rest() -> None:
    strategy = Strategy(waves=[WaveSpec(name="canary", clusters=["c03", "nope"]),
                               WaveSpec(name="bj", selector="region=bj"), WaveSpec(name="empty", selector="x=y")])
    assert waves.partition(CLUSTERS, strategy) == [
        ("canary", ["c03"]), ("bj", ["c01", "c05", "c07", "c09"]), ("rest", ["c02", "c04", "c06", "c08", "c10"])]


def test_window_open_and_next_in_a_time_zone() -> None:
    w = Window(cron="30 1 * * 1-5", duration=1800, timezone="Europe/Berlin")  # weekdays 01:30-02:00 local
    monday = dt.datetime(2026, 3, 2, 0, 30, tzinfo=dt.UTC)  # 01:30 in Berlin (CET)
    assert window.is_open(w, monday) and window.next_open(w, monday) == monday
    assert window.is_open(w, monday + dt.timedelta(minutes=29))
    assert not window.is_open(w, monday + dt.timedelta(minutes=30))
    assert window.next_open(w, monday + dt.timedelta(minutes=30)) == dt.datetime(2026, 3, 3, 0, 30, tzinfo=dt.UTC)
    friday_late = dt.datetime(2026, 3, 6, 12, 0, tzinfo=dt.UTC)
    assert window.next_open(w, friday_late) == dt.datetime(2026, 3, 9, 0, 30, tzinfo=dt.UTC)
    summer = dt.datetime(2026, 6, 1, 0, 0, tzinfo=dt.UTC)  # Berlin on CEST: 01:30 local is 23:30 UTC
    assert window.next_open(w, summer) == dt.datetime(2026, 6, 1, 23, 30, tzinfo=dt.UTC)


@pytest.mark.parametrize("w", [Window(cron="61 * * * *", duration=60), Window(cron="0 2 * * *", duration=0),
                               Window(cron="0 2 * * *", duration=60, timezone="Mars/Olympus")])
def test_window_validation(w: Window) -> None:
    with pytest.raises(Invalid):
        window.validate(w)


def test_values_merge_with_overrides_in_order() -> None:
    assert deep_merge({"a": {"b": 1, "c": [1]}, "d": 1}, {"a": {"c": [2], "e": None}, "d": {"x": 1}}) == \
        {"a": {"b": 1, "c": [2], "e": None}, "d": {"x": 1}}
    spec = AddonSpec(name="a", chart="p/c", version="1", values={"image": {"tag": "1", "repo": "r"}, "n": 1},
                     overrides=[Override(selector="region=bj", values={"image": {"tag": "2"}}),
                                Override(selector="tier", values={"image": {"tag": "3"}, "n": 2})])
    assert values_for(spec, {"region": "bj"}) == {"image": {"tag": "2", "repo": "r"}, "n": 1}
    assert values_for(spec, {"region": "bj", "tier": "x"}) == {"image": {"tag": "3", "repo": "r"}, "n": 2}
    assert values_for(spec, {}) == spec.values
    assert spec.values == {"image": {"tag": "1", "repo": "r"}, "n": 1}  # never modified in place


def _exists(chart: str, version: str) -> None:
    return None


@pytest.mark.parametrize(("change", "message"), [
    ({"name": "Bad_Name"}, "invalid addon name"), ({"chart": "oci://x/y"}, "project/chart"),
    ({"targets": "env in"}, "label selector"), ({"namespace": "Kube"}, "namespace"),
    ({"strategy": Strategy(max_parallel=0)}, "max_parallel"), ({"strategy": Strategy(wave_percent=101)}, "percent"),
    ({"strategy": Strategy(window=Window(cron="bad", duration=5))}, "cron"),
    ({"overrides": [Override(selector="a=b=c", values={})]}, "label selector"),
])
def test_validation(change: dict[str, object], message: str) -> None:
    base = {"name": "agent", "chart": "library/demo", "version": "1.0.0", **change}
    with pytest.raises(Invalid, match=message):
        planner.validate(AddonSpec(**base), _exists)  # type: ignore[arg-type]


def test_desired_change_is_chart_version_values_overrides_only() -> None:
    a = AddonSpec(name="a", chart="p/c", version="1")
    assert not planner.desired_changed(a, AddonSpec(name="a", chart="p/c", version="1", targets="x=y",
                                                    strategy=Strategy(soak=5)))
    assert planner.desired_changed(a, AddonSpec(name="a", chart="p/c", version="2"))
    assert planner.desired_changed(a, AddonSpec(name="a", chart="p/c", version="1", values={"x": 1}))
    assert planner.desired_changed(a, AddonSpec(name="a", chart="p/c", version="1",
                                                overrides=[Override(selector="", values={})]))


def test_example_addon_file_is_valid_for_the_curated_chart() -> None:
    """addons/tapp.yaml (quoted in the README) parses, validates, and its values fit the chart's schema."""
    root = Path(__file__).resolve().parent.parent
    spec = msgspec.convert(yaml.safe_load((root / "addons/tapp.yaml").read_text()), AddonSpec)
    chart_dir = root / "catalog/tapp" / spec.chart.split("/")[1]
    assert yaml.safe_load((chart_dir / "Chart.yaml").read_text())["version"] == spec.version
    planner.validate(spec, _exists)
    schema = json.loads((chart_dir / "values.schema.json").read_text())
    for labels in ({"env": "prod"}, {"env": "prod", "region": "bj"}):
        assert values_problems(schema, values_for(spec, labels)) == []
    assert values_for(spec, {"region": "bj"})["image"] == {"registry": "mirror.bj.example"}
