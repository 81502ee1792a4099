"""Server-rendered dashboard pages (L5): signals, monitoring, patients, ePRO, administration."""

from cgtvigil.web._pages import error_page, web_router

__all__ = ["error_page", "web_router"]
