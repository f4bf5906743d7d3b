"""Tests of ``accord.services``, the local services (``tests.services`` is another thing:
the database servers the other tests use)."""
