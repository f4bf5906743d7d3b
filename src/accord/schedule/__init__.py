"""``accord run``: every scheduled mapping synchronized on its schedule (reference §4)."""
