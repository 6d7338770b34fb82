"""Raw exchange files into parts, with hftbacktest's own converters."""
