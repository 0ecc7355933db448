"""The view's pages: one module each, ``render(ctx)`` draws it from the run's snapshot."""
