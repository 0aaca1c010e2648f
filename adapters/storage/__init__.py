"""Where a journal shared by several hosts is kept: Azure Blob Storage."""

from adapters.storage.blob import BlobStorage, parse

__all__ = ["BlobStorage", "parse"]
