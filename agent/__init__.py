"""encuestador: offline CSAT survey calls in Mexican Spanish."""

__version__ = "0.1.0"
