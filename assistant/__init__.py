"""镇级报告问答助手 — a cited question-answering assistant over township reports."""

__version__ = "0.1.0"
