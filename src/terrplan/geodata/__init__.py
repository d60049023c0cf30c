"""Package data derived from public geography (see NOTICE.md): read with importlib.resources."""
