"""The command line; thin over :class:`accord.Project`."""
