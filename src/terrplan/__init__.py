"""terrplan: balanced, compact sales territories with a proven quality gap."""

__version__ = "0.1.0"
