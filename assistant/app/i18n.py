"""Gradio's own texts in Chinese ("Drop File Here", "Click to Upload", "Loading", "Error"…).

Gradio picks its language from the browser; a browser set to English (or any language Gradio
does not ship) shows English texts around a Chinese app. Gradio's i18n support (``gr.I18n``)
lets an app add translations per locale, and these override Gradio's own messages of that
locale. So the app registers Gradio's shipped Simplified Chinese messages under every locale it
may fall back to: whatever the browser's language, the built-in texts read in Chinese.

The messages are read from Gradio's own ``zh-CN`` bundle (so they follow the installed Gradio);
when that bundle cannot be read, a short list of the texts this app shows stands in.
"""

from __future__ import annotations

import functools
import logging
import re
from pathlib import Path

import gradio as gr

log = logging.getLogger(__name__)

# The texts of Gradio's components this app uses, should Gradio's bundle not be readable.
FALLBACK = {
    "upload_text": {
        "click_to_upload": "点击上传",
        "drop_file": "拖放文件到此处",
        "drop_csv": "拖放 CSV 文件到此处",
        "or": "或",
        "uploading": "上传中...",
    },
    "common": {"clear": "清除", "download": "下载", "error": "错误", "loading": "加载中", "remove": "移除",
               "submit": "提交", "undo": "撤销", "copy": "复制", "or": "或"},
    "chatbot": {"copy": "复制", "copied": "已复制", "clear": "清除对话"},
    "file": {"uploading": "上传中..."},
    "dataframe": {"sort_ascending": "升序排序", "sort_descending": "降序排序", "clear_sort": "清除排序"},
    "errors": {"connection_can_break": "连接可能中断。", "error": "错误"},
}  # fmt: skip

# Locales a browser most often reports here that Gradio would otherwise render in English.
LOCALES = ("en", "en-US", "en-GB")

_BLOCK = re.compile(r"(\w+)=\{([^{}]*)\}")
_ENTRY = re.compile(r"(\w+):`([^`]*)`")
_EXPORT = re.compile(r"(\w+) as (\w+)")


def gradio_messages(bundle: Path | None = None) -> dict[str, dict[str, str]]:
    """Gradio's Simplified Chinese messages, grouped as in its locale files.

    Args:
        bundle: The compiled ``zh-CN-*.js`` of Gradio's frontend (found in the installed Gradio
            when None).

    Returns:
        ``{"upload_text": {"drop_file": "…", …}, …}``; :data:`FALLBACK` when the bundle cannot
        be read or parsed.
    """
    try:
        if bundle is None:
            assets = Path(gr.__file__).parent / "templates" / "frontend" / "assets"
            bundle = next(iter(sorted(assets.glob("zh-CN-*.js"))))
        text = bundle.read_text(encoding="utf-8")
        blocks = {var: dict(_ENTRY.findall(body)) for var, body in _BLOCK.findall(text)}
        exports = text[text.rfind("export{") :]
        messages = {name: blocks[var] for var, name in _EXPORT.findall(exports) if var in blocks and blocks[var]}
    except (OSError, StopIteration, ValueError):
        log.warning("Gradio's zh-CN messages not found; using the built-in list", exc_info=True)
        return FALLBACK
    if not messages.get("upload_text"):
        return FALLBACK
    return messages


@functools.lru_cache(maxsize=1)
def chinese_i18n() -> gr.I18n:
    """``gr.I18n`` that shows Gradio's built-in texts in Chinese for every browser language."""
    messages = gradio_messages()
    return gr.I18n(**{locale: messages for locale in LOCALES})
