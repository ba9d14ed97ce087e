"""Issue 17 and issue 13 (part 3) in a real browser, as an official meets the app, at 1366 px and 390 px.

Headless Debian Chromium driven by playwright (never a downloaded browser) against the app on a
free loopback port over a fresh index of the demo reports. Screenshots go to
``$TMPDIR/assistant-official-screens/``; look at them.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from tests.conftest import ROOT
from tests.test_app_browser import BOT, CHROMIUM_ARGS, WHICH_TOWNS, browser, server  # noqa: F401 - fixtures

pytestmark = [pytest.mark.browser, pytest.mark.slow]

SHOTS = Path(tempfile.gettempdir()) / "assistant-official-screens"
WIDTHS = {"desktop": {"width": 1366, "height": 900}, "phone": {"width": 390, "height": 844}}
REALWORLD = ROOT / "tests" / "data" / "realworld"
NO_TOWN_REPORT = """2024年法治政府建设工作报告

一、工作成效

今年以来，我镇建成智慧调解室17个，全年通过视频调解化解矛盾纠纷236起。

二、存在的问题

部分村调解员业务能力不足，调解工作规范化程度不高。
"""


def _shot(page, name: str, full_page: bool = False) -> Path:
    SHOTS.mkdir(parents=True, exist_ok=True)
    path = SHOTS / name
    page.screenshot(path=str(path), full_page=full_page)
    return path


def _open(browser, server, size: str):  # noqa: F811 - the fixture, passed on
    phone = size == "phone"
    context = browser.new_context(viewport=WIDTHS[size], is_mobile=phone, has_touch=phone, accept_downloads=True)
    page = context.new_page()
    page.errors = []
    page.on("pageerror", lambda err: page.errors.append(str(err)))
    page.goto(server)
    page.wait_for_selector("#question textarea", timeout=30_000)
    return context, page


@pytest.fixture(params=list(WIDTHS))
def sized(request, browser, server):  # noqa: F811
    context, page = _open(browser, server, request.param)
    page.size = request.param
    yield page
    context.close()


def _ask(page, question: str, timeout: float = 60_000) -> str:
    before = page.locator(BOT).count()
    page.fill("#question textarea", question)
    page.press("#question textarea", "Enter")
    page.wait_for_function(f"document.querySelectorAll('{BOT}').length > {before}", timeout=timeout, polling=20)
    return page.locator(BOT).last.inner_text()


def _upload(page, paths: list[Path]) -> str:
    page.get_by_role("tab", name="知识库").click()
    page.locator("#upload input[type=file]").set_input_files([str(p) for p in paths])
    for p in paths:  # the list shows a name as stem and extension apart
        page.locator("#upload").get_by_text(p.stem, exact=True).first.wait_for(state="attached", timeout=30_000)
    page.click("#ingest")
    status = page.locator("#kb-status")
    status.get_by_text("导入完成").wait_for(timeout=300_000)
    return status.inner_text()


def _town_options(page) -> list[str]:
    """The choices of the 问答 tab's 限定镇 dropdown, as the user sees them when opening it."""
    page.get_by_role("tab", name="问答").click()
    page.click("#town-filter input")
    options = page.get_by_role("option")
    options.first.wait_for(timeout=10_000)
    names = [t.strip() for t in options.all_inner_texts()]
    page.keyboard.press("Escape")
    return names


def _wait_for_town(page, town: str, seconds: float = 15) -> None:
    """Wait until the page's 限定镇 offers ``town`` (the page is never reloaded, 刷新 never pressed)."""
    deadline = time.monotonic() + seconds
    while town not in _town_options(page):
        assert time.monotonic() < deadline, f"{town} did not reach the open page"
        time.sleep(0.5)


def test_chinese_texts_mode_hint_and_no_dead_ends(sized):
    page = sized
    assert "哪些镇提到执法力量薄弱" in page.get_attribute("#question textarea", "placeholder")
    page.locator("#mode").get_by_text("起草汇总").click()
    page.wait_for_function(
        "document.querySelector('#question textarea').placeholder.includes('汇总的主题')", timeout=10_000
    )
    _shot(page, f"10_mode_hint_{page.size}.png")
    page.locator("#mode").get_by_text("问答").click()

    page.fill("#question textarea", "   ")
    page.press("#question textarea", "Enter")
    page.get_by_text("请先输入问题").first.wait_for(timeout=10_000)
    _shot(page, f"11_empty_input_hint_{page.size}.png")
    reply = _ask(page, "你好")
    assert "请就已导入的报告提问" in reply

    page.get_by_role("tab", name="知识库").click()
    upload = page.locator("#upload").inner_text()
    assert "Drop File Here" not in upload and "Click to Upload" not in upload
    assert "拖放" in upload and "点击上传" in upload
    body = page.locator("body").inner_text()
    assert not re.search(r"Drop File|Click to Upload|Loading\.\.\.", body)
    _shot(page, f"12_kb_tab_chinese_{page.size}.png")
    assert not page.errors


def test_citation_in_the_answer_text_opens_its_card(sized):
    page = sized
    start = time.perf_counter()
    _ask(page, WHICH_TOWNS)
    print(f"\n[{page.size}] first answer after page load: {time.perf_counter() - start:.2f} s")
    links = page.locator('#chatbot a[href^="#cite-"]')
    assert links.count() >= 3
    link = links.nth(1)
    label = link.inner_text().strip()
    link.click()
    card = page.locator("#citation-panel .cite-card")
    card.wait_for(timeout=10_000)
    page.wait_for_function(
        "(l) => document.querySelector('#citation-panel .cite-label')?.innerText.trim() === l", arg=label,
        timeout=10_000,
    )  # fmt: skip
    assert page.locator("#citation-panel mark").count() >= 1
    # The same paragraph as picking that entry of the list: the list shows it selected.
    assert page.locator("#citations input[type=radio]:checked").count() == 1
    box = card.bounding_box()
    height = WIDTHS[page.size]["height"]
    assert box and box["y"] >= 0 and box["y"] + 60 < height, "the card must open in view, next to the answer"
    if page.size == "phone":
        assert box["y"] > height * 0.4  # a sheet over the lower part: the answer stays readable above it
        assert page.locator(BOT).last.bounding_box()["y"] < box["y"]
    _shot(page, f"13_citation_from_text_{page.size}.png")
    if page.size == "phone":
        page.locator("#citation-panel .cite-close").click()
        page.wait_for_function(
            "document.querySelector('#citation-panel').classList.contains('cite-dismissed')", timeout=5_000
        )
        _shot(page, f"14_citation_closed_{page.size}.png")
    assert not page.errors


def test_follow_up_shows_a_grammatical_rewrite(browser, server):  # noqa: F811
    context, page = _open(browser, server, "desktop")
    try:
        _ask(page, WHICH_TOWNS)
        reply = _ask(page, "那北留镇呢？")
        assert "按“北留镇是否提到执法力量薄弱？”理解" in reply
        assert "北留镇哪些镇" not in reply
        _shot(page, "15_follow_up_rewrite_desktop.png")
    finally:
        context.close()


def test_statistics_chart_one_metric_each_bar_one_figure(sized):
    page = sized
    page.get_by_role("tab", name="统计").click()
    page.click("#metric input")
    page.get_by_role("option", name=re.compile("学法培训")).first.click()
    note = page.locator("#stats-note")
    note.get_by_text("未画入柱状图").wait_for(timeout=20_000)
    assert "22期" in note.inner_text() and "〔北留镇 · " in note.inner_text()
    page.locator("#stats-plot").get_by_text(re.compile("不相加")).first.wait_for(timeout=20_000)
    page.locator("#stats-plot").scroll_into_view_if_needed()
    time.sleep(0.8)  # let the closed dropdown's list fade out before the screenshot
    _shot(page, f"16_stats_chart_{page.size}.png")
    _shot(page, f"16_stats_chart_{page.size}_full.png", full_page=True)
    assert not page.errors


def test_views_follow_upload_rename_and_cli(browser, server, writable_demo, tmp_path):  # noqa: F811
    """Page A uploads and renames; page B (never reloaded, no 刷新) and the server follow; so does a CLI rename."""
    context_a, a = _open(browser, server, "desktop")
    context_b, b = _open(browser, server, "phone")
    try:
        report = tmp_path / "调解工作报告.txt"
        report.write_text(NO_TOWN_REPORT, encoding="utf-8")
        status = _upload(a, [report])
        assert "√" in status
        a.wait_for_function(
            r"/未识别镇-\w+（调解工作报告\.txt）/.test(document.querySelector('#documents').innerText)", timeout=20_000
        )
        _shot(a, "17_placeholder_town_with_file_name_desktop.png", full_page=True)

        assert "（调解工作报告.txt）（调解工作报告.txt）" not in a.locator("#documents").inner_text()
        # Set its town in the browser: pick the document, type the name, 修改镇名.
        a.click("#delete-choice input")
        a.get_by_role("option", name=re.compile("未识别镇-")).first.click()
        a.wait_for_function("document.querySelector('#delete-choice input').value.includes('未识别镇')")
        a.fill("#new-town input, #new-town textarea", "青石镇")
        a.click("#rename")
        a.locator("#kb-status").get_by_text("青石镇").first.wait_for(timeout=60_000)
        assert "青石镇" in a.locator("#documents").inner_text()
        _shot(a, "18_renamed_in_browser_desktop.png", full_page=True)

        # Page B was open all along: its town filter and table follow within seconds.
        _wait_for_town(b, "青石镇")
        b.get_by_role("tab", name="知识库").click()
        b.wait_for_function(
            "document.querySelector('#documents')?.innerText.includes('青石镇')", timeout=15_000, polling=200
        )
        b.get_by_role("tab", name="问答").click()
        answer = _ask(b, "青石镇建成了多少个智慧调解室？")
        assert "17" in answer and "青石镇" in answer
        _shot(b, "19_other_page_follows_phone.png")

        # A rename by the CLI (another process) reaches the running server and both pages.
        doc_id = next(d["doc_id"] for d in writable_demo.kb.catalog.documents() if d["town"] == "青石镇")
        env = {**os.environ, "PYTHONPATH": str(ROOT), "HF_HUB_OFFLINE": "1"}
        done = subprocess.run(
            [sys.executable, "-m", "assistant", "rename-town", doc_id, "白沙镇", "--db", writable_demo.settings.db],
            env=env, capture_output=True, text=True, timeout=300, cwd=str(ROOT),
        )  # fmt: skip
        assert done.returncode == 0, done.stderr
        _wait_for_town(b, "白沙镇")
        _wait_for_town(a, "白沙镇")
        assert "青石镇" not in _town_options(a) and "青石镇" not in _town_options(b)
        a.get_by_role("tab", name="知识库").click()
        a.wait_for_function(
            "document.querySelector('#documents')?.innerText.includes('白沙镇')", timeout=15_000, polling=200
        )
        a.get_by_role("tab", name="问答").click()
        answer = _ask(a, "白沙镇建成了多少个智慧调解室？")
        assert "〔白沙镇 · " in answer
        _shot(a, "20_cli_rename_seen_desktop.png")
        assert not a.errors and not b.errors
    finally:
        context_a.close()
        context_b.close()


def test_draft_with_many_citations_stays_usable(browser, server):  # noqa: F811
    context, page = _open(browser, server, "desktop")
    try:
        reports = sorted(REALWORLD.glob("00[1-9].txt"))
        assert len(reports) == 9
        start = time.perf_counter()
        status = _upload(page, reports)
        print(f"\nupload and index of 9 reports: {time.perf_counter() - start:.1f} s")
        assert status.count("√") == 9
        page.get_by_role("tab", name="问答").click()
        page.locator("#mode").get_by_text("起草汇总").click()
        _ask(page, "法治政府建设", timeout=120_000)
        radios = page.locator("#citations input[type=radio]")
        assert radios.count() >= 25
        last = page.locator("#citations label").last
        last.scroll_into_view_if_needed()
        last.click()
        card = page.locator("#citation-panel .cite-card")
        card.wait_for(timeout=10_000)
        box = card.bounding_box()
        assert box and box["y"] < WIDTHS["desktop"]["height"] - 60, "the card must be in view after picking"
        _shot(page, "21_draft_many_citations_desktop.png")
    finally:
        context.close()
    context, phone = _open(browser, server, "phone")
    try:
        phone.locator("#mode").get_by_text("起草汇总").click()
        _ask(phone, "法治政府建设", timeout=120_000)
        links = phone.locator('#chatbot a[href^="#cite-"]')
        assert links.count() >= 25
        links.nth(24).scroll_into_view_if_needed()
        links.nth(24).click()
        card = phone.locator("#citation-panel .cite-card")
        card.wait_for(timeout=10_000)
        box = card.bounding_box()
        assert box and 0 <= box["y"] < WIDTHS["phone"]["height"] - 60
        _shot(phone, "22_draft_many_citations_phone.png")
    finally:
        context.close()
