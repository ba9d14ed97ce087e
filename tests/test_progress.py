"""Ingest progress at scale: files done of all and the time left, in the CLI and the app's 知识库 tab."""

from __future__ import annotations

import pytest

from assistant.app.kb_tab import progress_reporter
from assistant.progress import IngestProgress, StageStatus, format_seconds

REPORT = "{town}2024年法治政府建设工作总结\n\n一、主要成效\n\n{town}全年调解矛盾纠纷{n}起，发放宣传资料{m}份。\n"


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_eta_from_the_stage_rate():
    clock = FakeClock()
    progress = IngestProgress(clock)
    clock.now += 2.0  # checking 4 files took 2 s
    assert progress.update("检查文件", 4, 4).remaining_s is None  # finished: nothing left
    clock.now += 3.0  # the first 10 of 200 files parsed in 3 s: 0.3 s a file
    status = progress.update("解析文档", 10, 200)
    assert status.unit == "个文件" and status.remaining_s == pytest.approx(57.0)
    assert status.text() == "解析文档 10/200 个文件，约剩 57 秒"
    clock.now += 3.0
    assert progress.update("解析文档", 20, 200).remaining_s == pytest.approx(54.0)
    clock.now += 1.0
    embed = progress.update("向量化", 32, 3200)  # the embedding stage starts from the last parse report
    assert embed.unit == "个句段" and embed.remaining_s == pytest.approx(99.0)


def test_no_estimate_before_anything_is_done():
    clock = FakeClock()
    assert IngestProgress(clock).update("解析文档", 0, 50).remaining_s is None
    assert StageStatus("解析文档", 0, 50, "个文件", None).text() == "解析文档 0/50 个文件"


def test_format_seconds():
    assert format_seconds(0.2) == "1 秒"
    assert format_seconds(59.4) == "59 秒" and format_seconds(59.6) == "1 分 0 秒"
    assert format_seconds(7322) == "2 小时 2 分"


def test_app_upload_progress_shows_files_and_time_left(tmp_path):
    """The 知识库 tab's reporter, driven by a real ingest of three reports, feeds gr.Progress per file."""
    from assistant.service import Assistant
    from assistant.settings import Settings

    folder = tmp_path / "reports"
    folder.mkdir()
    for i, town in enumerate(("青柳镇", "石桥镇", "松坪镇")):
        (folder / f"{town}.txt").write_text(REPORT.format(town=town, n=10 + i, m=100 * i + 5), encoding="utf-8")
    calls = []

    def bar(progress, desc=None, unit="steps"):
        calls.append((progress, desc, unit))

    report = Assistant(Settings(db=str(tmp_path / "db"))).ingest([str(folder)], progress=progress_reporter(bar))
    assert report.documents == 3 and not report.errors
    parsing = [c for c in calls if c[1].startswith("解析文档")]
    assert [c[0] for c in parsing] == [(1, 3), (2, 3), (3, 3)]
    assert all(unit == "个文件" for _, _, unit in parsing)
    assert any("约剩" in desc for (done, total), desc, _ in parsing if done < total)
    assert any(desc.startswith("向量化") and unit == "个句段" for _, desc, unit in calls)


def test_cli_bar_counts_files_and_time_left():
    from assistant.cli import _ingest_bar

    bar, progress = _ingest_bar()
    progress("解析文档", 1, 4)
    progress("解析文档", 2, 4)
    (task,) = bar.tasks
    assert task.description == "解析文档" and task.completed == 2 and task.total == 4
    assert task.fields["unit"] == "个文件" and task.fields["left"].startswith("约剩")
