"""Every way a code gets into the terminal, behind one seam (``Source``)."""
