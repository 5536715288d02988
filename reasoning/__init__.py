"""Teacher-student LLM reasoning: baseline, skyline, feedback and speculative settings."""
