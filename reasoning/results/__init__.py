"""Run results: the JSONL writer, summaries, and loading runs into pandas.

    from reasoning.results import load
    df = load("multirun/2026-11-23/10-00-00")
    df.groupby("setting").correct.mean()
"""
from reasoning.results.load import load, load_events
from reasoning.results.summary import summarize
from reasoning.results.writer import ResultsWriter, read_records

__all__ = ["ResultsWriter", "load", "load_events", "read_records", "summarize"]
