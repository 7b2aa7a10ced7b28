"""Game-day reports: the scorecard, Markdown and a self-contained HTML report that renders in a headless browser."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

from gameday import library, report
from gameday.runner import ScenarioResult, run_scenario
from gameday.scenario import load

CHROMIUM = next((shutil.which(b) for b in ("chromium", "chromium-browser", "google-chrome") if shutil.which(b)), None)


@pytest.fixture(scope="module")
def results() -> list[ScenarioResult]:
    names = ("race-second-key", "user-key-contained", "skip-sample")
    paths = [p for p in library.scenario_files() if p.stem in names and p.parent.name == "credential"]
    # With only listed instances monitored, the alarm-lifecycle function is not deployed: skipped.
    skipped = load(library.SCENARIOS_DIR / "alarm_lifecycle" / "running-creates-alarms.yaml")
    not_deployed = {"monitoring.scope": "list", "monitoring.instanceIds": "i-0123456789abcdef0"}
    return [run_scenario(load(p)) for p in paths] + [run_scenario(skipped, overrides=not_deployed)]


def test_scorecard_lists_expectations_and_time_to_contain(results: list[ScenarioResult]) -> None:
    text = report.scorecard(results)
    assert re.search(r"credential-race-second-key\s+PASS\s+8/8\s+\d+ ms", text)
    assert re.search(r"alarm-lifecycle-running-creates-alarms\s+SKIP", text)
    assert "4 scenario(s): 3 passed, 0 failed, 0 error(s), 1 skipped" in text
    assert not report.failing(results)


def test_markdown_report_has_scorecard_timelines_and_expectations(results: list[ScenarioResult]) -> None:
    text = report.markdown(results)
    assert "| [credential-race-second-key](#credential-race-second-key) | PASS | 8/8 |" in text
    assert "rule GuardDutyCredentialFindings -> function CredentialFunction [credential]" in text
    assert "| met | key alice#attacker" in text


def test_html_report_is_self_contained(results: list[ScenarioResult]) -> None:
    text = report.html_report(results)
    assert "<script" not in text.lower()
    assert not re.search(r"""(src|href)=["']?(https?:)?//""", text)
    assert "<svg" in text and 'class="bar"' in text
    assert text.count('class="timeline"') == 3


@pytest.mark.skipif(CHROMIUM is None, reason="headless Chromium is not installed (apt-get install -y chromium)")
def test_html_report_renders_in_headless_chromium(results: list[ScenarioResult], tmp_path: Path) -> None:
    page = tmp_path / "gameday.html"
    page.write_text(report.html_report(results))
    flags = [
        str(CHROMIUM),
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--user-data-dir=" + str(tmp_path / "profile"),
    ]
    dom = subprocess.run([*flags, "--dump-dom", page.as_uri()], capture_output=True, text=True, timeout=120, check=True)
    assert dom.stdout.count('class="bar"') == sum(len(r.contain_times) for r in results) > 0
    assert "attacker during the wait" in dom.stdout
    shot = tmp_path / "shot.png"
    subprocess.run(
        [*flags, f"--screenshot={shot}", "--window-size=1280,1600", page.as_uri()],
        capture_output=True,
        timeout=120,
        check=True,
    )
    data = shot.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 20_000
