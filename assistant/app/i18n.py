"""Gradio's own texts in Chinese ("Drop File Here", "Click to Upload", "Loading"…) whatever the browser's language.

Gradio picks its language from the browser once, when a page loads: a browser set to English
shows English texts around a Chinese app. Custom translations for ``en`` (``gr.I18n``) do not
help — Gradio loads its English messages after them, over them. What does work is Gradio's own
language switch, the one its settings panel uses: ``changeLocale`` of its i18n module, which
loads Gradio's shipped Simplified Chinese messages. :data:`LOCALE_JS` calls it when a page
loads (run by a hidden ``gr.HTML`` of the layout).
"""

from __future__ import annotations

import functools
import json
import logging
from pathlib import Path

import gradio as gr

log = logging.getLogger(__name__)

LOCALE = "zh-CN"


@functools.lru_cache(maxsize=1)
def i18n_module() -> str | None:
    """File name of the installed Gradio frontend's i18n module (``core-<hash>.js``), if found."""
    assets = Path(gr.__file__).parent / "templates" / "frontend" / "assets"
    for path in sorted(assets.glob("core-*.js")):
        try:
            if "changeLocale" in path.read_text(encoding="utf-8", errors="ignore"):
                return path.name
        except OSError:
            continue
    log.warning("Gradio's i18n module not found; its built-in texts follow the browser's language")
    return None


def locale_js(locale: str = LOCALE) -> str:
    """JavaScript for ``gr.HTML(js_on_load=…)``: switch Gradio's language to ``locale``.

    The module is imported by the same URL the page loaded it from, so it is the page's own
    instance and the switch applies to every component on the page.
    """
    name = i18n_module()
    if not name:
        return ""
    return f"""
if (!window.__appLocale) {{
  window.__appLocale = true;
  const script = [...document.querySelectorAll('script[src*="/assets/"], link[href*="/assets/"]')]
    .map((el) => el.src || el.href).find((url) => url);
  const base = script ? script.slice(0, script.lastIndexOf('/assets/') + 8) : new URL('assets/', document.baseURI).href;
  import(base + {json.dumps(name)}).then((m) => m.changeLocale({json.dumps(locale)})).catch(() => {{}});
}}
"""


LOCALE_JS = locale_js()
