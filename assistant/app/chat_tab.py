"""The 问答 tab: chat with clickable citations, drafting, export of the latest answer."""

from __future__ import annotations

import functools
import importlib
import logging
import re
import uuid
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import gradio as gr

from assistant.app.answer_cache import SharedAsker
from assistant.app.common import (
    EMPTY_HINT,
    EXAMPLES,
    INPUT_HINTS,
    MODE_ASK,
    MODE_DRAFT,
    NOT_A_QUESTION,
    PANEL_HINT,
    ChatSession,
    _attr,
    _draft_function,
    citation_html,
    group_sources,
    is_small_talk,
    md_escape,
    sanitize_filename,
)
from assistant.export import conversation_markdown, write_docx, write_markdown
from assistant.kinds.draft import is_command as is_draft_command

log = logging.getLogger(__name__)

_INLINE_LABEL = re.compile(r"〔[^〔〕\n]+〕")

# An earlier answer is kept in the chat with its first lines only: every turn sends the whole
# conversation to the browser, and one which-towns answer at 2,000 reports is 1,200 lines (~260 KB,
# sent again with each later turn). The full answer stays in the conversation export.
EARLIER_LINES = 40

# Citations the list shows at once: a which-towns answer at 2,000 reports cites 1,200 paragraphs
# (~80 KB of choices with every turn); the others are a page away, and every label in the answer
# text opens its card directly.
CITATION_PAGE = 50
PAGE_CHOICE = "page:"  # value prefix of the list's 上一页 / 下一页 entries

# The export buttons of the 问答 tab, in their order on the page.
EXPORT_LABELS = {"docx": "Word (.docx)", "md": "Markdown (.md)", "conversation": "整个对话 (.md)"}
EXPORTS = tuple(EXPORT_LABELS)

# Clicking a citation label in the answer text opens its paragraph card and selects its entry of
# the citation list, so text and list open one card. On a phone the card
# is a sheet over the bottom of the chat (see PAGE_CSS), dismissed by its 关闭 button.
CITATION_JS = """
if (!window.__citeLinks) {
  window.__citeLinks = true;
  document.addEventListener('click', (event) => {
    const link = event.target.closest && event.target.closest('#chatbot a[href^="#cite-"]');
    if (link) {
      event.preventDefault();
      event.stopPropagation();
      const panel = document.querySelector('#citation-panel');
      if (panel) panel.classList.remove('cite-dismissed');
      // The list holds one page of the citations: the server opens the card and turns the list
      // to the page of this one (see ChatTab.open_citation).
      window.__citePick = link.getAttribute('href').slice(6);
      document.querySelector('#cite-open')?.click();
      return;
    }
    if (event.target.closest && event.target.closest('#citation-panel .cite-close')) {
      document.querySelector('#citation-panel')?.classList.add('cite-dismissed');
    }
  }, true);
}
watch('value', () => {
  const panel = document.querySelector('#citation-panel');
  if (!panel) return;
  panel.classList.remove('cite-dismissed');
  if (panel.querySelector('.cite-card') && window.innerWidth > 640) panel.scrollIntoView({block: 'nearest'});
});
"""


def link_citations(markdown: str, sources: Sequence[tuple[str, list]]) -> str:
    """Make the citation labels of escaped answer Markdown links to their entry of the citation list.

    Args:
        markdown: The answer as escaped Markdown with inline labels ``〔镇 · 章节 · 第N段〕``.
        sources: The turn's cited paragraphs ``[(label, citations)]`` (the list's order).

    Returns:
        Markdown where each known label is ``[〔…〕](#cite-i)``; other text unchanged.

    >>> link_citations("见〔北留镇 · 二、问题 · 第3段〕。", [("〔北留镇 · 二、问题 · 第3段〕", [])])
    '见[〔北留镇 · 二、问题 · 第3段〕](#cite-0)。'
    """
    index = {md_escape(label): i for i, (label, _) in enumerate(sources)}

    def link(match: re.Match[str]) -> str:
        label = match.group(0)
        if label not in index:
            return label
        text = label.replace("[", "\\[").replace("]", "\\]")
        return f"[{text}](#cite-{index[label]})"

    return _INLINE_LABEL.sub(link, markdown)


@functools.cache
def _plain_chatbot() -> gr.Chatbot:
    """A chatbot component outside any page, for converting messages when the app was not built."""
    return gr.Chatbot(render=False)


class ChatTab:
    """Chat handlers of :class:`assistant.app.core.AssistantApp` (a mixin: state lives on the app)."""

    def _effective_question(self, question: str, towns: Sequence[str] | None) -> str:
        """Limit a question to the selected towns when it names none itself."""
        towns = [t for t in (towns or []) if t]
        if not towns:
            return question
        if self.assistant.retriever.towns_in(question):
            return question
        return f"{'、'.join(towns)}：{question}"

    def _draft(self, question: str, towns: Sequence[str] | None) -> dict | None:
        """A drafted summary turn, or None when drafting is unavailable."""
        draft_summary = _draft_function()
        if draft_summary is None:
            return None
        named = list(self.assistant.retriever.towns_in(question))
        scope = list(towns or []) or named
        topic = question
        request_topic = getattr(importlib.import_module("assistant.summarize"), "request_topic", None)
        if callable(request_topic):
            topic = request_topic(question, tuple(named))
        draft = draft_summary(self.assistant, topic, scope or None)
        return {
            "question": question,
            "resolved": question,
            "title": getattr(draft, "title", "") or question,
            "markdown": getattr(draft, "markdown", "") or "",
            "blocks": tuple(getattr(draft, "blocks", ()) or ()),
            "citations": list(getattr(draft, "citations", ()) or ()),
            "kind": "draft",
            "notice": "",
        }

    def answer(self, question: str, towns: Sequence[str] | None, mode: str, session: ChatSession) -> dict:
        """Answer one question in a session (no UI types involved).

        Args:
            question: What the user typed (already validated).
            towns: Selected towns of the filter.
            mode: ``问答`` or ``起草汇总``.
            session: The session (its conversation is created on first use).

        Returns:
            The turn dict (question, resolved, title, markdown, blocks, citations, kind, notice).

        Raises:
            ValueError: The question was refused (message in Chinese).
        """
        from assistant.conversation import Conversation

        self.generation()  # a knowledge base changed elsewhere (another page, the CLI) is loaded first
        with self._lock.read():
            if session.conversation is None:
                session.conversation = Conversation(SharedAsker(self.assistant, self.compute_answer, self.answers))
            wants_draft = mode == MODE_DRAFT or is_draft_command(question)
            notice = ""
            if wants_draft:
                turn = self._draft(question, towns)
                if turn is not None:
                    return turn
                if mode == MODE_DRAFT:
                    notice = "起草汇总功能暂不可用，已按问答模式回答。"
            effective = self._effective_question(question, towns)
            resolved, answer = session.conversation.ask(effective)
        citations = list(answer.citations) or list(answer.related)
        notes = [n for n in (notice, getattr(answer, "notice", "")) if n]
        return {
            "question": question,
            "resolved": resolved,
            "title": question,
            "markdown": answer.answer,
            "blocks": answer.blocks,
            "citations": citations,
            "kind": answer.kind,
            "abstained": answer.abstained,
            "related": not answer.citations and bool(answer.related),
            "notice": "；".join(notes),
        }

    @staticmethod
    def _render_turn(turn: dict) -> str:
        """Chat bubble Markdown of a turn (escaped); its citation labels link to their paragraph card."""
        parts = []
        if turn.get("resolved") and turn["resolved"] != turn["question"]:
            parts.append(f"*（按“{md_escape(turn['resolved'])}”理解）*")
        if turn.get("kind") == "draft":
            parts.append(f"**{md_escape(turn['title'])}**")
        parts.append(link_citations(md_escape(turn["markdown"]), turn.get("sources") or ()))
        if turn.get("notice"):
            parts.append(f"*{md_escape(turn['notice'])}*")
        if turn.get("citations"):
            word = "可能相关段落" if turn.get("related") else "引用"
            count = len(turn.get("sources") or turn["citations"])
            parts.append(f"*{word} {count} 处：点击文中的〔出处〕或引用列表查看原文。*")
        return "\n\n".join(parts)

    @staticmethod
    def _render_earlier(turn: dict) -> str:
        """Chat bubble Markdown of an answer once a later one is shown: labels as plain text, long answers cut.

        The citation list and its links then belong to the later answer, so this one's labels
        are no longer links (a link would open the later answer's paragraph of the same number).
        """
        parts = []
        if turn.get("resolved") and turn["resolved"] != turn["question"]:
            parts.append(f"*（按“{md_escape(turn['resolved'])}”理解）*")
        if turn.get("kind") == "draft":
            parts.append(f"**{md_escape(turn['title'])}**")
        lines = md_escape(turn["markdown"]).split("\n")
        if len(lines) > EARLIER_LINES:
            shown = "\n".join(lines[:EARLIER_LINES]).rstrip()
            parts.append(f"{shown}\n\n*……（较早的答复共 {len(lines)} 行，此处只显示前 {EARLIER_LINES} 行；"
                         "完整内容请用“整个对话 (.md)”导出。）*")  # fmt: skip
        else:
            parts.append("\n".join(lines))
        if turn.get("notice"):
            parts.append(f"*{md_escape(turn['notice'])}*")
        return "\n\n".join(parts)

    @staticmethod
    def _citation_choices(turn: dict | None, page: int = 0) -> list[tuple[str, str]]:
        """Radio choices ``[n] 镇 · 章节 · 第N段`` of one page: one per cited paragraph, numbered as in exports.

        A page after the first starts with an entry back, a page before the last ends with one on.
        """
        sources = (turn or {}).get("sources") or ()
        pages = -(-len(sources) // CITATION_PAGE)
        page = min(max(page, 0), max(pages - 1, 0))
        start = page * CITATION_PAGE
        end = min(start + CITATION_PAGE, len(sources))
        choices = [(f"[{i + 1}] {sources[i][0].strip('〔〕')}", str(i)) for i in range(start, end)]
        if page > 0:
            choices.insert(
                0, (f"◂ 前 {CITATION_PAGE} 处（第 {start - CITATION_PAGE + 1}–{start} 处）", f"{PAGE_CHOICE}{page - 1}")
            )
        if end < len(sources):
            last = min(end + CITATION_PAGE, len(sources))
            choices.append(
                (f"▸ 后面的引用（第 {end + 1}–{last} 处，共 {len(sources)} 处）", f"{PAGE_CHOICE}{page + 1}")
            )
        return choices

    def _citation_radio(self, turn: dict | None, page: int = 0, value: str | None = None) -> Any:
        choices = self._citation_choices(turn, page)
        label = "可能相关段落（点击查看原文）" if turn and turn.get("related") else "引用（点击查看原文）"
        return gr.Radio(choices=choices, value=value, label=label, visible=bool(choices))

    def pick_citation(self, choice: str | None, session: ChatSession | None) -> tuple:
        """UI handler of the citation list: a citation opens its card, a 前/后 entry turns the page.

        Returns:
            (citation panel, citation list).
        """
        if isinstance(choice, str) and choice.startswith(PAGE_CHOICE) and isinstance(session, ChatSession):
            try:
                page = int(choice[len(PAGE_CHOICE) :])
            except ValueError:
                return gr.skip(), gr.skip()
            return gr.skip(), self._citation_radio(session.last, page)
        return self.show_citation(choice, session), gr.skip()

    def open_citation(self, choice: str | None, session: ChatSession | None) -> tuple:
        """UI handler of a citation label clicked in the answer text: its card, and the list at its page.

        Returns:
            (citation list, citation panel).
        """
        panel = self.show_citation(choice, session)
        if panel == PANEL_HINT:
            return gr.skip(), panel
        index = int(choice)  # show_citation found it, so it is a number
        return self._citation_radio(session.last, index // CITATION_PAGE, value=str(index)), panel

    def chat(self, question: str, towns: list[str] | None, mode: str, session: ChatSession | None) -> tuple:
        """Chat handler: append the question and its answer to the session's messages.

        Returns:
            (messages, question box, citation radio, citation panel, session).
        """
        session = session if isinstance(session, ChatSession) else ChatSession()
        question = (question or "").strip()
        if not question:
            # The user must see why nothing was asked (Gradio's toasts carry an English title).
            if not session.messages or session.messages[-1]["content"] != EMPTY_HINT:
                session.messages = session.messages + [{"role": "assistant", "content": EMPTY_HINT}]
            return session.messages, "", gr.skip(), gr.skip(), session
        if is_small_talk(question) and mode != MODE_DRAFT:
            session.messages = session.messages + [
                {"role": "user", "content": md_escape(question)},
                {"role": "assistant", "content": NOT_A_QUESTION},
            ]
            return session.messages, "", gr.skip(), gr.skip(), session
        try:
            self.assistant.check_question(question)
        except ValueError as err:
            shown = question if len(question) <= 200 else f"{question[:200]}…（共 {len(question)} 字）"
            session.messages = session.messages + [
                {"role": "user", "content": md_escape(shown)},
                {"role": "assistant", "content": f"**无法回答**：{md_escape(str(err))}。请缩短问题后重试。"},
            ]
            return session.messages, question, gr.skip(), gr.skip(), session
        user = {"role": "user", "content": md_escape(question)}
        try:
            turn = self.answer(question, towns, mode, session)
        except ValueError as err:
            session.messages = session.messages + [
                user,
                {"role": "assistant", "content": f"**无法回答**：{md_escape(str(err))}"},
            ]
            return session.messages, question, gr.skip(), gr.skip(), session
        except Exception as err:  # noqa: BLE001 - the user gets a message, the log gets the traceback
            log.exception("answering %r failed", question)
            message = f"**出错了**：处理问题时出错（{type(err).__name__}），请稍后重试。"
            session.messages = session.messages + [user, {"role": "assistant", "content": message}]
            return session.messages, question, gr.skip(), gr.skip(), session
        turn["sources"] = group_sources(turn.get("blocks") or turn["markdown"], turn["citations"])
        messages = list(session.messages)
        if session.last is not None and session.answer_at is not None:
            messages[session.answer_at] = {"role": "assistant", "content": self._render_earlier(session.last)}
        session.turns.append(turn)
        session.last = turn
        session.answer_at = len(messages) + 1
        session.messages = messages + [user, {"role": "assistant", "content": self._render_turn(turn)}]
        return session.messages, "", self._citation_radio(turn), PANEL_HINT, session

    def chat_stream(
        self, question: str, towns: list[str] | None, mode: str, session: ChatSession | None
    ) -> Iterator[tuple]:
        """Streaming variant (LLM configured): show the question and a placeholder at once."""
        session = session if isinstance(session, ChatSession) else ChatSession()
        text = (question or "").strip()
        if text and len(text) <= self.settings.max_question_chars:
            pending = session.messages + [
                {"role": "user", "content": md_escape(text)},
                {"role": "assistant", "content": "正在检索报告并生成回答…"},
            ]
            yield pending, "", gr.skip(), gr.skip(), session
        yield self.chat(question, towns, mode, session)

    def chat_turn(self, question: str, towns: list[str] | None, mode: str, session: ChatSession | None) -> tuple:
        """UI handler of a question: :meth:`chat`, and the export buttons in the same reply.

        One request per turn: the buttons were a second event after each answer. The event runs
        without Gradio's pre- and postprocessing (see :meth:`_wire_chat`): the inputs are checked
        here and the reply is sent as the browser reads it, each chat message converted once.
        """
        mode = self._check_inputs(towns, mode)
        ready = isinstance(session, ChatSession) and session.last is not None
        return self._turn_reply(self.chat(question, towns, mode, session), session, ready)

    def chat_turn_stream(
        self, question: str, towns: list[str] | None, mode: str, session: ChatSession | None
    ) -> Iterator[tuple]:
        """Streaming variant of :meth:`chat_turn` (LLM configured)."""
        mode = self._check_inputs(towns, mode)
        ready = isinstance(session, ChatSession) and session.last is not None
        for out in self.chat_stream(question, towns, mode, session):
            yield self._turn_reply(out, session, ready)

    def _check_inputs(self, towns: list[str] | None, mode: str | None) -> str:
        """What Gradio's preprocessing checked: a known mode, towns of the knowledge base (the API sends any JSON).

        Returns:
            The mode (问答 when none was sent).

        Raises:
            gradio.Error: An unknown mode or town.
        """
        if mode in (None, ""):
            return MODE_ASK
        if mode not in (MODE_ASK, MODE_DRAFT):
            raise gr.Error(f"未知的模式：{str(mode)[:40]}")
        if towns:
            known = set(self.towns())
            unknown = [t for t in towns if not isinstance(t, str) or t not in known]
            if unknown:
                raise gr.Error(f"知识库中没有这些镇：{'、'.join(map(str, unknown[:5]))[:200]}")
        return mode

    def _turn_reply(self, out: tuple, before: ChatSession | None, ready: bool) -> tuple:
        """The reply of a turn as sent to the browser: only what changed.

        Each turn resends the whole conversation (the chatbot has no partial update); its messages
        are converted to the browser's form once each (:meth:`_wire_messages`), not again every
        turn. The session, changed in place, is sent only when it is a new one, and the export
        buttons only when they become usable: every component update costs the server a new
        component and two configurations of it.
        """
        messages, box, radio, panel, session = out
        buttons = self.export_buttons(session) if (session.last is not None) != ready else (gr.skip(),) * len(EXPORTS)
        shown = self._wire_messages(messages, session)
        return (shown, box, radio, panel, gr.skip() if session is before else session, *buttons)

    def _wire_messages(self, messages: list[dict], session: ChatSession) -> list[dict]:
        """Chat messages as Gradio's chatbot postprocessing makes them, each converted once per session.

        A message unchanged since the last turn (the same dict) reuses its converted form; the
        conversion is the chatbot component's own, so the browser gets what it always got.
        """
        chatbot = getattr(self, "_chatbot", None) or _plain_chatbot()
        # Keyed by identity: the session keeps the earlier messages alive, so an id is not reused.
        done = {id(message): converted for message, converted in session.wire}
        pairs = []
        for message in messages:
            converted = done.get(id(message))
            if converted is None:
                converted = chatbot.postprocess([message]).model_dump()
            pairs.append((message, converted))
        session.wire = pairs
        return [item for _, converted in pairs for item in converted]

    def show_citation(self, choice: str | None, session: ChatSession | None) -> str:
        """HTML of the chosen citation of the latest answer (or the hint)."""
        if choice in (None, "") or not isinstance(session, ChatSession) or not session.last:
            return PANEL_HINT
        try:
            _, group = session.last["sources"][int(choice)]
        except (KeyError, ValueError, IndexError, TypeError):
            return PANEL_HINT
        citation = group[0]
        quotes = [q for q in dict.fromkeys(_attr(c, "quote", "") or "" for c in group) if q]
        with self._lock.read():
            kb = self.assistant.kb
            paragraph = kb.paragraphs.get(_attr(citation, "id"))
            meta = kb.metas.get(_attr(citation, "doc"))
        return citation_html(citation, paragraph, meta, quotes=quotes)

    def export_file(self, session: ChatSession | None, key: str) -> Path | None:
        """Write one export of the session: the latest answer (``docx``, ``md``) or the conversation.

        Args:
            session: The chat session.
            key: One of :data:`EXPORTS` (``docx``, ``md``, ``conversation``).

        Returns:
            The written file under the export folder, or None when nothing was answered yet.
        """
        if not isinstance(session, ChatSession) or not session.last:
            return None
        turn = session.last
        folder = self.export_dir / session.id / uuid.uuid4().hex[:8]
        stem = sanitize_filename(turn["title"], max_chars=40) or "答复"
        stem = stem.rsplit(".", 1)[0] if "." in stem and len(stem.rsplit(".", 1)[1]) <= 4 else stem
        body = turn.get("blocks") or turn["markdown"]  # the answer's parts; Markdown only for a turn without them
        if key == "docx":
            return write_docx(folder / f"{stem}.docx", turn["title"], body, turn["citations"])
        if key == "md":
            return write_markdown(folder / f"{stem}.md", turn["title"], body, turn["citations"])
        if key == "conversation":
            folder.mkdir(parents=True, exist_ok=True)
            path = folder / "对话记录.md"
            path.write_text(conversation_markdown(session.turns), encoding="utf-8")
            return path
        raise ValueError(f"unknown export {key!r}; expected one of {EXPORTS}")

    def export_files(self, session: ChatSession | None) -> dict[str, Path]:
        """Write every export of the session at once (the command line and tests; the app builds one per click).

        Returns:
            ``{"docx", "md", "conversation"}`` paths (empty when nothing was answered yet).
        """
        files = {key: self.export_file(session, key) for key in EXPORTS}
        return {key: path for key, path in files.items() if path is not None}

    def download(self, key: str, session: ChatSession | None) -> Any:
        """UI handler of an export button: build that one file now and hand it to its hidden download button."""
        try:
            path = self.export_file(session, key)
        except Exception:  # noqa: BLE001 - the user gets a message, the log gets the traceback
            log.exception("export %s failed", key)
            gr.Warning("导出失败，请稍后重试。")
            return gr.DownloadButton(value=None)
        if path is None:
            gr.Info("还没有可导出的答复，请先提问。")
        return gr.DownloadButton(value=str(path) if path else None)

    @staticmethod
    def export_buttons(session: ChatSession | None) -> tuple:
        """The export buttons after an answer: usable once the session has one (no file is written here)."""
        ready = isinstance(session, ChatSession) and session.last is not None
        return tuple(gr.Button(interactive=ready) for _ in EXPORTS)

    @staticmethod
    def on_mode(mode: str) -> Any:
        """The input hint of a mode (what to type in 问答 and in 起草汇总)."""
        return gr.Textbox(placeholder=INPUT_HINTS.get(mode, INPUT_HINTS[MODE_ASK]))

    def clear(self) -> tuple:
        """Start a new conversation."""
        session = ChatSession()
        disabled = tuple(gr.Button(interactive=False) for _ in EXPORTS)
        return ([], "", gr.Radio(choices=[], value=None, visible=False), PANEL_HINT, session, *disabled)

    # --- layout ----------------------------------------------------------
    def _chat_tab(self, towns: list[str]) -> dict[str, Any]:
        """The 问答 tab's components (built inside the app's ``gr.Tabs``)."""
        with gr.Tab("问答", id="chat"):
            with gr.Row(equal_height=False):
                with gr.Column(scale=3, min_width=340):
                    chatbot = gr.Chatbot(
                        label="对话",
                        elem_id="chatbot",
                        height=480,
                        buttons=["copy"],
                        feedback_options=None,
                        placeholder="向报告提问，例如：哪些镇提到执法力量薄弱？",
                        group_consecutive_messages=False,
                    )
                    with gr.Row(equal_height=True):
                        question = gr.Textbox(
                            show_label=False,
                            placeholder=INPUT_HINTS[MODE_ASK],
                            lines=1,
                            max_lines=6,
                            scale=5,
                            min_width=180,
                            elem_id="question",
                            autofocus=True,
                        )
                        send = gr.Button("发送", variant="primary", scale=1, min_width=72, elem_id="send")
                    with gr.Row():
                        mode = gr.Radio(
                            [MODE_ASK, MODE_DRAFT], value=MODE_ASK, label="模式", min_width=150, elem_id="mode"
                        )
                        town_filter = gr.Dropdown(
                            choices=towns,
                            value=[],
                            multiselect=True,
                            label="限定镇（可多选，不选为全部）",
                            min_width=180,
                            elem_id="town-filter",
                        )
                    gr.Examples(
                        examples=[[EXAMPLES[0], MODE_ASK], [EXAMPLES[1], MODE_ASK], [EXAMPLES[2], MODE_DRAFT]],
                        inputs=[question, mode],
                        label="示例问题",
                        example_labels=list(EXAMPLES),
                    )
                    clear = gr.Button("新对话", size="sm", variant="secondary", elem_id="clear")
                with gr.Column(scale=2, min_width=300):
                    citations = gr.Radio(choices=[], label="引用（点击查看原文）", visible=False, elem_id="citations")
                    panel = gr.HTML(PANEL_HINT, elem_id="citation-panel", padding=True, js_on_load=CITATION_JS)
                    # What a label clicked in the answer text opens (set and clicked by CITATION_JS).
                    cite_pick = gr.Textbox(visible="hidden", elem_id="cite-pick")
                    cite_open = gr.Button(visible="hidden", elem_id="cite-open")
                    gr.Markdown("**导出当前答复**（含引用列表）", elem_id="export-title")
                    with gr.Row():
                        # A file is written only when its button is clicked: the click builds it into
                        # the hidden download button of its format, which the page then clicks.
                        buttons = {
                            key: gr.Button(label, interactive=False, size="sm", elem_id=f"export-{key}", min_width=100)
                            for key, label in EXPORT_LABELS.items()
                        }
                        files = {
                            key: gr.DownloadButton(visible="hidden", elem_id=f"export-{key}-file") for key in EXPORTS
                        }
        return {
            "chatbot": chatbot, "question": question, "send": send, "mode": mode, "town_filter": town_filter,
            "clear": clear, "citations": citations, "panel": panel, "export_buttons": buttons, "export_files": files,
            "cite_pick": cite_pick, "cite_open": cite_open,
        }  # fmt: skip

    def _wire_chat(self, c: dict[str, Any], session: Any) -> None:
        """Events of the 问答 tab."""
        stream = bool(self.settings.llm_url)
        chatbot, question, citations, panel = c["chatbot"], c["question"], c["citations"], c["panel"]
        send, town_filter, mode, clear = c["send"], c["town_filter"], c["mode"], c["clear"]
        chat_fn = self.chat_turn_stream if stream else self.chat_turn
        exports_out = [c["export_buttons"][key] for key in EXPORTS]
        chat_out = [chatbot, question, citations, panel, session, *exports_out]
        self._chatbot = chatbot  # whose postprocessing converts the chat messages (ChatTab._wire_messages)
        for trigger, name in ((send.click, "ask"), (question.submit, "ask_submit")):
            # Without Gradio's pre- and postprocessing: each runs every input and output in a
            # thread of its own and converts the whole conversation again every turn; the
            # handler checks its inputs and sends its outputs in the browser's form itself.
            trigger(
                chat_fn,
                inputs=[question, town_filter, mode, session],
                outputs=chat_out,
                api_name=name,
                api_visibility="public" if name == "ask" else "undocumented",
                show_progress="minimal",
                preprocess=False,
                postprocess=False,
            )
        mode.change(self.on_mode, inputs=[mode], outputs=[question], api_visibility="private", queue=False)
        # A user's pick only (the list changes with every answer and every page turned).
        citations.input(
            self.pick_citation, inputs=[citations, session], outputs=[panel, citations], api_visibility="private"
        )
        c["cite_open"].click(
            self.open_citation,
            inputs=[c["cite_pick"], session],
            outputs=[citations, panel],
            js="(pick, session) => [String(window.__citePick ?? ''), session]",
            api_visibility="private",
        )
        clear_out = [chatbot, question, citations, panel, session, *exports_out]
        clear.click(self.clear, outputs=clear_out, api_visibility="private")
        chatbot.clear(self.clear, outputs=clear_out, api_visibility="private")
        for key in EXPORTS:
            file = c["export_files"][key]
            c["export_buttons"][key].click(
                functools.partial(self.download, key),
                inputs=[session],
                outputs=[file],
                api_visibility="private",
                show_progress="minimal",
            ).then(None, js=f"() => document.querySelector('#export-{key}-file')?.click()")
