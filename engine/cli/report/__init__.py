"""A run's report: the document collected from the journal, and its HTML and Markdown pages."""
