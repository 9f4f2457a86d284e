"""The build path (``covet build``, ``covet check``): not yet implemented (issue 4)."""
