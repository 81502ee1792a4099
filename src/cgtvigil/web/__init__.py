"""Server-rendered dashboard pages (L5): signals, monitoring, patients, ePRO, administration."""

from cgtvigil.web._pages import error_page, web_router
from cgtvigil.web._security import install_security

__all__ = ["error_page", "install_security", "web_router"]
