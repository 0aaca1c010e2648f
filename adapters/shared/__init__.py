"""What the ports and both adapters share, neutral to each: the project's errors, resource IDs,
addressing, the secret type, the model of a protected item's state, the clock, the YAML loader with
line numbers, and the estate format (the fake reads it; a snapshot of Azure writes it)."""
