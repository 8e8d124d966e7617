"""integrated-care: an operating platform for an English Integrated Care System."""

__version__ = "0.1.0"
