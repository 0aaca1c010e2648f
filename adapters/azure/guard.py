"""Read-only by construction: a pipeline policy that stops every non-read request before it is sent.

``validate``, ``plan`` and ``--dry-run`` open the adapter read-only; whatever code path a bug takes,
a PUT, PATCH, POST or DELETE cannot leave the process.
"""

from __future__ import annotations

from azure.core.pipeline import PipelineRequest
from azure.core.pipeline.policies import SansIOHTTPPolicy

from adapters.shared.errors import ReadOnlyViolation

READ_METHODS = frozenset({"GET", "HEAD"})


class ReadOnlyPolicy(SansIOHTTPPolicy):
    def on_request(self, request: PipelineRequest) -> None:
        http = request.http_request
        if http.method.upper() not in READ_METHODS:
            path = http.url.split("?", 1)[0]
            raise ReadOnlyViolation(f"refused {http.method} {path}: this command only reads Azure",
                                    code="ReadOnly", operation=http.method)
