"""Adapters: the ports the engine needs, a fake Azure estate, and the Azure SDK."""
