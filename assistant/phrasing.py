"""The Chinese phrasing of answers, in one place.

Kinds (:mod:`assistant.kinds`) decide what an answer says; the words around the quoted
sentences — lead lines, table headings, abstentions, notices — are written here, so a change
of wording is one edit and never breaks a renderer or an export (they work on typed parts).
"""

from __future__ import annotations

import re

from assistant.units import UNITS

# --- town by town --------------------------------------------------------------------------


def towns_mentioning(count: int, topic: str, unit: str = "镇") -> str:
    """Lead of a which-towns answer, counting in the unit word of the towns it lists.

    >>> towns_mentioning(3, "执法力量薄弱")
    '共3个镇提到执法力量薄弱：'
    >>> towns_mentioning(2, "领导干部述法", "乡镇（街道）")
    '共2个乡镇（街道）提到领导干部述法：'
    """
    return f"共{count}个{unit}提到{topic}："


EACH_TOWN = "各镇情况："  # lead of a fact asked of several named towns
TOWN_SEPARATOR = "、"
NOT_MENTIONED = "未提及"
NO_CELL = "—"


def compare_header(unit: str = "镇") -> tuple[str, ...]:
    """Columns of a per-town comparison table; the first names the unit ("镇", "乡镇（街道）")."""
    return (unit, "报告原文", "出处")


def comparison(count: int, unit: str = "镇") -> str:
    """Lead of a per-town comparison table.

    >>> comparison(2, "乡镇（街道）")
    '各乡镇（街道）对比（2个乡镇（街道）的报告提到）：'
    """
    return f"各{unit}对比（{count}个{unit}的报告提到）："


# --- figures from the statistics table -------------------------------------------------------


def figures_header(metric_label: str, unit: str = "镇") -> tuple[str, ...]:
    """Columns of a per-town figures table."""
    return (unit, metric_label, "报告原文", "出处")


def figures(metric: str, count: int, unit: str = "镇") -> str:
    """Lead of a per-town figures table."""
    return f"各{unit}{metric}情况（{count}个{unit}的报告给出了数字）："


def superlative(metric: str, word: str, town: str) -> str:
    """Start of a superlative's lead, before the quoted figure and its citation ("…最多的是北留镇：")."""
    return f"{metric}{word}的是{town}："


def superlative_tail(unit: str = "镇") -> str:
    """What follows a superlative's quoted figure, before the table."""
    return f"。各{unit}对比："


FIGURE_SEPARATOR = "；"

# --- one town ------------------------------------------------------------------------------


def fact(town: str) -> str:
    """Start of a fact line, before the quoted sentence ("北留镇：")."""
    return f"{town}："


def summary(town: str) -> str:
    """Lead of a one-town summary."""
    return f"{town}报告中的相关内容："


# --- document fields -----------------------------------------------------------------------

FIELD_LABELS = {"doc_number": "文号", "signer": "签发人", "date": "落款日期", "title": "标题", "issuer": "发文机关"}


def field_missing(town: str, field: str) -> str:
    """A field the town's report does not state."""
    return f"{town}：报告中未写明{field}。"


def field_value(town: str, field: str, value: str, cited: bool) -> str:
    """A field's value; a cited one is followed by its citation, an uncited one ends the sentence."""
    return f"{town}：{field}为 {value}" + ("" if cited else "。")


def fields_not_found(scope: str, fields: str) -> str:
    """No report of the scope states the fields asked for."""
    return f"报告中未找到{scope}报告的{fields}。"


ALL_TOWNS = "各镇"

# --- abstention ----------------------------------------------------------------------------

# Why retrieval abstained (shown after "报告中未找到…相关内容：").
EMPTY_INDEX = "知识库为空，请先导入报告"
NO_PASSAGES = "没有可检索的段落"
NO_SUPPORT = "报告中没有段落提到问题所问的内容"
NO_FIGURE = "报告中未找到问题所问的数字"
NO_TOWN = "报告中未找到提及该内容的镇"


def unknown_towns(names: str) -> str:
    """Reason: the question names towns no indexed report belongs to."""
    return f"知识库中没有{names}的报告"


def no_report_of_year(asked: tuple[int, ...], loaded: tuple[tuple[str, tuple[int, ...]], ...]) -> str:
    """Reason: the named towns have no report of (nor a word about) the years asked; says which years are loaded.

    >>> no_report_of_year((2023,), (("北留镇", (2024,)),))
    '知识库中没有北留镇2023年的报告（仅有2024年的报告）'
    """
    years = "、".join(f"{y}年" for y in asked)
    towns = TOWN_SEPARATOR.join(t for t, _ in loaded)
    held = {ys for _, ys in loaded}
    if len(held) == 1:
        have = "仅有" + "、".join(f"{y}年" for y in next(iter(held))) + "的报告"
    else:
        have = "；".join(f"{t}仅有" + "、".join(f"{y}年" for y in ys) + "的报告" for t, ys in loaded)
    return f"知识库中没有{towns}{years}的报告（{have}）"


def towns_scope(towns: tuple[str, ...]) -> str:
    """The towns a question is limited to, as an abstention names them ("北留镇、旧院镇的"; "" for none)."""
    return TOWN_SEPARATOR.join(towns) + "的" if towns else ""


def not_found(scope: str, reason: str) -> str:
    """Lead of an abstention; ``scope`` is "北留镇的" or ""."""
    return f"报告中未找到{scope}相关内容：{reason or NO_DIRECT_ANSWER}。"


NO_DIRECT_ANSWER = "没有段落直接回答这个问题"
RELATED = "可能相关："
NOT_A_QUESTION = "请就报告的内容提问，例如：哪些镇提到执法力量薄弱？北留镇罚款多少？"
RELATED_CHARS = 60  # characters of a related paragraph shown


def related_excerpt(text: str) -> str:
    """The start of a related paragraph, after its citation."""
    return f" {text[:RELATED_CHARS]}…"


# --- drafts --------------------------------------------------------------------------------


def draft_title(towns: list[str], topic: str) -> str:
    """Title of a drafted 汇总 (the towns when at most three, else 各镇)."""
    return f"{TOWN_SEPARATOR.join(towns) if len(towns) <= 3 else ALL_TOWNS}{topic}情况汇总"


def draft_missing(topic: str, towns: list[str]) -> str:
    """Towns whose reports do not mention a drafted topic."""
    return f"以下镇的报告未提及“{topic}”：{TOWN_SEPARATOR.join(towns)}。"


def draft_empty(topic: str) -> str:
    """No report mentions a drafted topic."""
    return f"报告中未找到与“{topic}”相关的内容。"


# --- the language-model path -----------------------------------------------------------------


def llm_failed(error: str) -> str:
    """Notice: the model call failed and the extractive answer is shown."""
    return f"大模型调用失败（{error[:80]}），已改用原文摘录回答。"


LLM_UNCITED = "大模型的回答没有可核对的引用，已改用原文摘录回答。"
LLM_TRIMMED = "已删除大模型回答中无法核对的内容。"
_COUNT_LEAD = re.compile(rf"\d+\s*个(?:{UNITS})")


def after_count_lead(text: str) -> str:
    """A model's lead-in line after its town count ("共3个乡镇（街道）提到……：" → "提到……："); the count needs no citation.

    >>> after_count_lead("共3个乡镇（街道）提到法律顾问：")
    '提到法律顾问：'
    """
    return _COUNT_LEAD.split(text, maxsplit=1)[-1]
