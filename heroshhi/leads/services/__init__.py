"""Every write to leads, one module per entity (``stages``, ``leads``, ``trash``, ...)."""
