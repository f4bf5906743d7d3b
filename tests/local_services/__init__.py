"""Tests of ``accord.services``, the local services (``tests.services`` is the database servers helper)."""
