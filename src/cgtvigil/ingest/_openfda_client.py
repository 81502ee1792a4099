"""openFDA API client (drug/event): paging by ``skip`` and, past it, by the ``search_after``
link openFDA sends in its ``Link`` header; 429 answers honoured through ``Retry-After``;
transport errors and 5xx retried with exponential back-off up to a cap. The API key is passed
in by the caller (the CLI takes it from settings); nothing here reads the environment."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import httpx

from cgtvigil.errors import ParseError

__all__ = ["OPENFDA_URL", "OpenFdaClient", "RetryPolicy"]

OPENFDA_URL = "https://api.fda.gov"
_MAX_SKIP = 25_000  # openFDA refuses a larger skip; beyond it only search_after pages


@dataclass(frozen=True)
class RetryPolicy:
    """Attempts per request and the back-off between them (seconds, doubled each time, capped)."""

    attempts: int = 5
    backoff: float = 1.0
    max_backoff: float = 60.0
    max_retry_after: float = 300.0


class OpenFdaClient:
    """Query one openFDA endpoint (default ``/drug/event.json``) page by page."""

    def __init__(
        self,
        base_url: str = OPENFDA_URL,
        *,
        api_key: str = "",
        endpoint: str = "/drug/event.json",
        retry: RetryPolicy | None = None,
        timeout: float = 60.0,
        sleep: Callable[[float], None] = time.sleep,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.url = base_url.rstrip("/") + endpoint
        self.api_key = api_key
        self.retry = retry or RetryPolicy()
        self.sleep = sleep
        self.client = httpx.Client(timeout=timeout, transport=transport, follow_redirects=False)
        self.requests = 0
        self.retries = 0

    def __enter__(self) -> OpenFdaClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.client.close()

    def _get(self, url: str, params: dict[str, str] | None) -> httpx.Response:
        params = dict(params or {})
        if self.api_key:
            params["api_key"] = self.api_key
        delay = self.retry.backoff
        for attempt in range(1, self.retry.attempts + 1):
            self.requests += 1
            problem: str
            wait = min(delay, self.retry.max_backoff)
            try:
                resp = self.client.get(httpx.URL(url).copy_merge_params(params))
            except httpx.TransportError as exc:
                problem = f"{type(exc).__name__}: {exc}"
            else:
                if resp.status_code < 400 or resp.status_code == 404:
                    return resp
                if resp.status_code == 429:
                    problem = "429 Too Many Requests"
                    after = resp.headers.get("Retry-After", "")
                    if after.strip().isdigit():
                        wait = min(float(after), self.retry.max_retry_after)
                elif resp.status_code >= 500:
                    problem = f"{resp.status_code} {resp.reason_phrase}"
                else:
                    raise ParseError(f"OPENFDA_REFUSED: {resp.status_code}: {_error_text(resp)}", file=_safe(url))
            if attempt == self.retry.attempts:
                raise ParseError(f"OPENFDA_UNAVAILABLE: {problem} after {attempt} attempts", file=_safe(url))
            self.retries += 1
            self.sleep(wait)
            delay *= 2
        raise AssertionError("unreachable")

    def search(
        self, search: str | None = None, *, limit: int | None = None, page_size: int = 100
    ) -> Iterator[dict[str, Any]]:
        """Yield the records matching ``search`` (openFDA query syntax), at most ``limit``.

        Pages by ``skip`` while that stays within openFDA's bound, and follows the ``Link: <...>;
        rel="next"`` header (``search_after``) whenever the server gives one. No match (404
        NOT_FOUND) yields nothing."""
        params: dict[str, str] = {"limit": str(page_size)}
        if search:
            params["search"] = search
        url: str | None = self.url
        skip = 0
        got = 0
        while url is not None and (limit is None or got < limit):
            if limit is not None and url == self.url:
                params["limit"] = str(min(page_size, limit - got))
            resp = self._get(url, params if url == self.url else None)
            if resp.status_code == 404:
                return
            try:
                body = resp.json()
            except ValueError:
                raise ParseError("OPENFDA_BAD_JSON: the answer is not JSON", file=_safe(url)) from None
            results = body.get("results") if isinstance(body, dict) else None
            if not isinstance(results, list):
                raise ParseError("OPENFDA_BAD_JSON: the answer has no 'results' list", file=_safe(url))
            for rec in results:
                if limit is not None and got >= limit:
                    return
                got += 1
                yield rec
            if not results:
                return
            nxt = resp.links.get("next", {}).get("url")
            if nxt:
                url = nxt
                continue
            total = _total(body)
            skip += len(results)
            if url != self.url or (total is not None and skip >= total) or skip + page_size > _MAX_SKIP:
                return
            params["skip"] = str(skip)


def _total(body: dict[str, Any]) -> int | None:
    meta = body.get("meta")
    res = meta.get("results") if isinstance(meta, dict) else None
    total = res.get("total") if isinstance(res, dict) else None
    return total if isinstance(total, int) else None


def _error_text(resp: httpx.Response) -> str:
    try:
        err = resp.json().get("error", {})
        return str(err.get("message") or err)[:500]
    except (ValueError, AttributeError):
        return resp.text[:500]


def _safe(url: str) -> str:
    """The URL without its query (which may hold the API key)."""
    return url.split("?", 1)[0]
