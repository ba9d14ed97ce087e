"""The 统计 tab: the statistics table per metric and town, a bar chart, Excel/CSV export."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Sequence
from typing import Any

import gradio as gr

from assistant.app.common import citation_label, md_escape

log = logging.getLogger(__name__)

FACT_HEADERS = ["镇", "年度", "指标", "数值", "原文", "出处"]


class StatsTab:
    """Statistics handlers of :class:`assistant.app.core.AssistantApp` (a mixin: state lives on the app)."""

    def metric_choices(self) -> list[tuple[str, str]]:
        """(label, key) of metrics that have facts, most frequent first."""
        counts: dict[tuple[str, str], int] = {}
        for f in self.facts():
            counts[(f.label, f.metric)] = counts.get((f.label, f.metric), 0) + 1
        return [pair for pair, _ in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0][0]))]

    def filtered_facts(self, metric: str | None, towns: Sequence[str] | None) -> list:
        """Facts of one metric (all when None/"") and towns (all when empty)."""
        towns = set(towns or [])
        return [f for f in self.facts() if (not metric or f.metric == metric) and (not towns or f.town in towns)]

    @staticmethod
    def fact_rows(facts: Sequence) -> list[list]:
        """Table rows: 镇, 年度, 指标, 数值, 原文, 出处."""
        rows = []
        for f in facts:
            display = getattr(f, "display", None) or f"{f.value}{f.unit}"
            rows.append([f.town, f.year or "", f.label, display, f.quote, _label(f)])
        return rows

    def plot_frame(self, facts: Sequence) -> tuple[Any, str, list]:
        """Bar-chart data of one metric: one bar per cited figure, nothing added up.

        Figures of one metric can still mean different things (中心组学法 and 大讲堂 attendance
        are both 学法培训), and two equal figures can be two real events, so every figure is its
        own bar labelled with its town and citation. Figures are converted to the metric's most
        common unit; one in a unit that cannot be converted (22期 next to 人次) is not drawn but
        returned, to be listed under the chart with its citation.

        Returns:
            (DataFrame with columns 条目, 镇, 数值, 原文, 出处 — one row per figure —, unit,
            facts not drawn).
        """
        import pandas as pd

        normalise = getattr(self.stats, "normalized_value", None)
        values = []
        for f in facts:
            try:
                value, unit = normalise(f) if normalise else (f.value, f.unit)
            except Exception:  # noqa: BLE001
                value, unit = f.value, f.unit
            values.append((f, float(value), unit))
        empty = pd.DataFrame({"条目": [], "镇": [], "数值": [], "原文": [], "出处": []})
        if not values:
            return empty, "", []
        units: dict[str, int] = {}
        for _, _, unit in values:
            units[unit] = units.get(unit, 0) + 1
        unit = max(units, key=lambda u: units[u])
        drawn = [(f, v) for f, v, u in values if u == unit]
        left = [f for f, _, u in values if u != unit]
        per_town: dict[str, int] = {}
        for f, _ in drawn:
            per_town[f.town] = per_town.get(f.town, 0) + 1
        seen: dict[str, int] = {}
        rows = []
        for f, value in drawn:
            seen[f.town] = seen.get(f.town, 0) + 1
            # "北留镇 ②": the n-th figure of that town, in reading order (the table's order).
            name = f.town if per_town[f.town] == 1 else f"{f.town} {_circled(seen[f.town])}"
            rows.append((name, f.town, value, f.quote, _label(f)))
        frame = pd.DataFrame(rows, columns=["条目", "镇", "数值", "原文", "出处"])
        return frame, unit, left

    def stats_data(self, metric: str | None, towns: Sequence[str] | None) -> dict:
        """Table rows, chart data and export files for a metric/town filter.

        Returns:
            ``{"rows", "frame", "title", "unit", "note", "xlsx", "csv"}`` (files None when no facts;
            ``note``: Markdown listing the figures not drawn, with their citations).
        """
        facts = self.filtered_facts(metric, towns)
        label = next((lab for lab, key in self.metric_choices() if key == metric), "")
        frame, unit, left = self.plot_frame(facts if metric else [])
        xlsx = csv = None
        if facts:
            folder = self.export_dir / "stats" / uuid.uuid4().hex[:8]
            folder.mkdir(parents=True, exist_ok=True)
            try:
                xlsx = self.stats.to_xlsx(facts, folder / "统计表.xlsx")
                csv = self.stats.to_csv(facts, folder / "统计表.csv")
            except Exception:  # noqa: BLE001
                log.exception("statistics export failed")
        title = f"{label}：每柱一处数字，不相加" if metric else "选择一个指标查看柱状图"
        note = ""
        if not metric:
            note = "柱状图一次只画一个指标：请在上方“指标”中选择。"
        elif left:
            items = "\n".join(
                f"- {md_escape(f.town)}：{md_escape(getattr(f, 'display', '') or f'{f.value}{f.unit}')}"
                f"（{md_escape(f.quote)}）{md_escape(_label(f))}"
                for f in left
            )
            note = f"**未画入柱状图**（单位不是“{md_escape(unit)}”，无法换算，未与其他数字比较）：\n{items}"
        return {
            "rows": self.fact_rows(facts), "frame": frame, "title": title, "unit": unit, "note": note,
            "xlsx": xlsx, "csv": csv,
        }  # fmt: skip

    def stats_view(self, metric: str | None, towns: Sequence[str] | None) -> tuple:
        """UI handler: table, chart and export buttons for a metric/town filter."""
        data = self.stats_data(metric, towns)
        return (
            data["rows"],
            gr.BarPlot(value=data["frame"], title=data["title"], y_title=data["unit"] or "数值", y_lim=[0, None]),
            data["note"],
            gr.DownloadButton(value=str(data["xlsx"]) if data["xlsx"] else None, interactive=bool(data["xlsx"])),
            gr.DownloadButton(value=str(data["csv"]) if data["csv"] else None, interactive=bool(data["csv"])),
        )

    def stats_refresh(self, metric: str | None, towns: Sequence[str] | None) -> tuple:
        """UI handler: recompute filters after the index changed."""
        choices = [("全部指标", "")] + self.metric_choices()
        keys = {k for _, k in choices}
        metric = metric if metric in keys else (choices[1][1] if len(choices) > 1 else "")
        town_choices = self.towns()
        towns = [t for t in (towns or []) if t in town_choices]
        view = self.stats_view(metric, towns)
        return (gr.Dropdown(choices=choices, value=metric), gr.Dropdown(choices=town_choices, value=towns), *view)

    # --- layout ----------------------------------------------------------
    def _stats_tab(self, towns: list[str]) -> tuple:
        """The 统计 tab's components (built inside the app's ``gr.Tabs``)."""
        with gr.Tab("统计", id="stats"):
            metrics = [("全部指标", "")] + self.metric_choices()
            first = metrics[1][1] if len(metrics) > 1 else ""
            with gr.Row():
                metric = gr.Dropdown(choices=metrics, value=first, label="指标", min_width=200, elem_id="metric")
                stat_towns = gr.Dropdown(
                    choices=towns, value=[], multiselect=True, label="镇（不选为全部）", min_width=200
                )
                stats_refresh = gr.Button("刷新", size="sm", scale=0, min_width=80)
            data = self.stats_data(first, [])
            plot_component = gr.BarPlot(
                value=data["frame"],
                x="条目",
                y="数值",
                color="镇",
                tooltip=["条目", "数值", "原文", "出处"],
                x_title="镇（同一镇的多处数字依次编号）",
                x_label_angle=-45,  # a phone has room for slanted names only
                sort=None,
                title=data["title"],
                y_title=data["unit"] or "数值",
                y_lim=[0, None],
                label="柱状图",
                elem_id="stats-plot",
            )
            plot_note = gr.Markdown(data["note"], elem_id="stats-note")
            fact_table = gr.Dataframe(
                value=data["rows"],
                headers=FACT_HEADERS,
                datatype="str",
                interactive=False,
                wrap=True,
                label="数字事实（每条附出处）",
                elem_id="facts",
            )
            with gr.Row():
                dl_xlsx = gr.DownloadButton(
                    "导出 Excel", value=str(data["xlsx"]) if data["xlsx"] else None, size="sm",
                    interactive=bool(data["xlsx"]), elem_id="stats-xlsx",
                )  # fmt: skip
                dl_csv = gr.DownloadButton(
                    "导出 CSV", value=str(data["csv"]) if data["csv"] else None, size="sm",
                    interactive=bool(data["csv"]), elem_id="stats-csv",
                )  # fmt: skip
            stats_parts = (metric, stat_towns, stats_refresh, plot_component, plot_note, fact_table, dl_xlsx, dl_csv)
        return stats_parts

    def _wire_stats(self, parts: tuple, kb_changed: tuple) -> None:
        """Events of the 统计 tab; it also follows every change of the knowledge base."""
        uploaded, reindexed, deleted, renamed = kb_changed
        metric, stat_towns, stats_refresh, plot_component, plot_note, fact_table, dl_xlsx, dl_csv = parts
        view_out = [fact_table, plot_component, plot_note, dl_xlsx, dl_csv]
        for comp in (metric, stat_towns):
            comp.change(self.stats_view, inputs=[metric, stat_towns], outputs=view_out, api_visibility="private")
        # The table follows the knowledge base: refreshed by its button and after every change.
        for event in (stats_refresh.click, uploaded.then, reindexed.then, deleted.then, renamed.then):
            event(
                self.stats_refresh, inputs=[metric, stat_towns], outputs=[metric, stat_towns, *view_out],
                api_visibility="private",
            )  # fmt: skip


def _label(fact: Any) -> str:
    """The citation label of a fact (``〔北留镇 · 章节 · 第3段〕``)."""
    return getattr(fact, "citation_label", None) or citation_label(
        {"town": fact.town, "section": fact.section, "paragraph": fact.paragraph}
    )


def _circled(n: int) -> str:
    """①…⑳ for the n-th figure of a town, then (21), (22)…"""
    return chr(0x2460 + n - 1) if 1 <= n <= 20 else f"({n})"
