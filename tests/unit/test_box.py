"""``benchmarks/box.py``: where no cgroup can be made it says why and exits 2; medians and the
scenario list."""

from __future__ import annotations

from pathlib import Path

import pytest

from benchmarks import box


def test_no_cgroup_hierarchy_exits_2_with_the_reason(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A cgroup root with neither v1 memory+cpu nor v2 controllers (or no root rights): exit 2,
    one line saying the box cannot be made and why, and nothing run."""
    code = box.main(["verify", "--cgroup-root", str(tmp_path), "--journals", str(tmp_path / "j")])
    err = capsys.readouterr().err
    assert code == 2
    assert err.startswith("cannot make the box: ")
    assert ("no cgroup v1" in err and str(tmp_path) in err) or "needs root" in err
    assert not (tmp_path / "j").exists()


def test_a_v2_root_without_the_memory_controller_is_named(tmp_path: Path) -> None:
    """cgroup v2 mounted but without the memory controller: the error names what is missing."""
    (tmp_path / "cgroup.controllers").write_text("cpu io pids\n")
    with pytest.raises(box.BoxError, match=r"lacks the cpu or memory controller|needs root"):
        box.Box("probe", cgroup_root=tmp_path)


def test_unknown_scenario_exits_2_listing_the_valid_ones(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """A scenario name that does not exist is refused before anything runs."""
    assert box.main(["verfy", "--outside"]) == 2
    out = capsys.readouterr().out
    assert "unknown scenario verfy; valid: verify, rebuild, cold-start" in out


def test_medians_over_runs_include_the_scenarios_own_figures() -> None:
    """Every numeric figure is the median over the runs (the scenario's nested JSON too); kills
    are counted, not averaged."""
    runs = [
        {"killed": False, "wall_s": 3.0, "cpu_s": 1.0, "figures": {"p50_ms": 10.0, "ok": True}},
        {"killed": True, "wall_s": 1.0, "cpu_s": 2.0, "figures": {"p50_ms": 30.0, "ok": True}},
        {"killed": False, "wall_s": 2.0, "cpu_s": 9.0, "figures": {"p50_ms": 20.0, "ok": True}},
    ]
    summary = box.medians(runs)
    assert summary == {
        "runs": 3,
        "killed": 1,
        "wall_s": 2.0,
        "cpu_s": 2.0,
        "figures": {"p50_ms": 20.0},
    }
