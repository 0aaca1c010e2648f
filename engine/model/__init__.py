"""The runbook as the engine understands it: the format (pydantic models), the loader that checks a
file and says every problem with its line, expressions, parameters, durations, and the JSON Schema."""
