"""Run results: the JSONL writer, summaries, and loading runs into pandas."""
from reasoning.results.summary import summarize
from reasoning.results.writer import ResultsWriter, read_records

__all__ = ["ResultsWriter", "read_records", "summarize"]
