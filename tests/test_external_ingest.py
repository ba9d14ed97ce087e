"""A long-running process sees reports another process ingested (the CLI beside a served app).

Found by the sixth session's worker-pool helper: a served app answered 出错了（InternalError） after
``python -m assistant ingest`` added a report to its knowledge base from another process. The app
notices the new index generation and reloads its views (:meth:`assistant.service.Assistant.reload`),
but the embedded Chroma client of the process still reads the collection as it was when it was
opened, and fetching the new town's vectors by chunk id fails inside Chroma ("Error finding id").
The answer workers (:mod:`assistant.workers`) avoided it with a fresh client; the serving process now
reopens its store when the change came from elsewhere (:meth:`vectorstore.chroma_store.ChromaStore.reopen`).
"""

from __future__ import annotations

import subprocess
import sys

from tests.conftest import ROOT

REPORTS = ROOT / "data" / "reports"


def test_a_reloaded_assistant_answers_about_a_town_the_cli_ingested_meanwhile(tmp_path):
    from assistant.service import Assistant
    from assistant.settings import Settings

    db = tmp_path / "db"
    first = [str(p) for p in sorted(REPORTS.glob("*.txt")) if p.name.startswith(("北留镇", "旧院镇"))]
    added = next(str(p) for p in REPORTS.glob("*.txt") if p.name.startswith("东方红镇"))
    ingest = [sys.executable, "-m", "assistant", "ingest"]
    subprocess.run([*ingest, *first, "--db", str(db)], check=True, capture_output=True, cwd=ROOT)
    assistant = Assistant(Settings(db=str(db)))
    assistant.open()
    before = assistant.generation()
    assert assistant.ask("北留镇罚款多少？").towns == ("北留镇",)
    subprocess.run([*ingest, added, "--db", str(db)], check=True, capture_output=True, cwd=ROOT)
    assert assistant.generation() != before
    assistant.reload(written_elsewhere=True)
    answer = assistant.ask("东方红镇有多少执法人员？")
    assert answer.towns == ("东方红镇",)


def test_the_app_notices_a_cli_ingest_and_answers_about_its_town(tmp_path):
    """The served app's path: a page's generation check notices the other process's ingest and reloads
    (:meth:`assistant.app.core.AssistantApp.generation`), then the new town's question is answered."""
    from assistant.app.core import AssistantApp
    from assistant.service import Assistant
    from assistant.settings import Settings

    db = tmp_path / "db"
    first = [str(p) for p in sorted(REPORTS.glob("*.txt")) if p.name.startswith("旧院镇")]
    added = next(str(p) for p in REPORTS.glob("*.txt") if p.name.startswith("三道沟镇"))
    ingest = [sys.executable, "-m", "assistant", "ingest"]
    subprocess.run([*ingest, *first, "--db", str(db)], check=True, capture_output=True, cwd=ROOT)
    app = AssistantApp(Assistant(Settings(db=str(db))), export_dir=tmp_path / "exports")
    app.warm_up()
    loaded = app.generation()
    subprocess.run([*ingest, added, "--db", str(db)], check=True, capture_output=True, cwd=ROOT)
    assert app.generation() != loaded
    answer = app.compute_answer("三道沟镇有多少名人民调解员？")
    assert answer.towns == ("三道沟镇",) and not answer.abstained


def test_a_writer_handle_of_the_same_process_writes_where_the_reopened_readers_look(tmp_path):
    """After a reopen the app's writer handle (a second Assistant on the folder) must not go on writing
    through the old Chroma system: its upload would be invisible to the readers (found by the browser test
    of a draft after an upload, which then had no citations)."""
    from assistant.service import Assistant
    from assistant.settings import Settings

    db = tmp_path / "db"
    reports = {p.name.split("_")[0]: str(p) for p in REPORTS.glob("*.txt")}
    ingest = [sys.executable, "-m", "assistant", "ingest"]
    subprocess.run([*ingest, reports["旧院镇"], "--db", str(db)], check=True, capture_output=True, cwd=ROOT)
    reader, writer = Assistant(Settings(db=str(db))), Assistant(Settings(db=str(db)))
    reader.open()
    writer.ingest([reports["北留镇"]])  # the writer's client is made on the first system
    reader.reload()
    subprocess.run([*ingest, reports["三道沟镇"], "--db", str(db)], check=True, capture_output=True, cwd=ROOT)
    reader.reload(written_elsewhere=True)
    assert reader.ask("三道沟镇有多少名人民调解员？").towns == ("三道沟镇",)
    writer.ingest([reports["东方红镇"]])
    reader.reload()
    assert reader.ask("东方红镇有多少执法人员？").towns == ("东方红镇",)
