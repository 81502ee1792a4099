"""Server-rendered dashboard pages (L5): signals, monitoring, patients, ePRO, administration."""

from cgtvigil.web._pages import web_router

__all__ = ["web_router"]
