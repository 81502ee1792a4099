"""Server-rendered dashboard pages (L5): signals, monitoring, patients, ePRO, administration."""

from cgtvigil.web._pages import web_router
from cgtvigil.web._render import Reader, audit_read, error_page, install_error_pages, reader
from cgtvigil.web._security import install_security

__all__ = ["Reader", "audit_read", "error_page", "install_error_pages", "install_security", "reader", "web_router"]
