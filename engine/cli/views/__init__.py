"""What the operator sees on a terminal: results as text, and a run's progress as it goes."""
