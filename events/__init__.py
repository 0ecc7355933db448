"""Event schemas, the event log and the blob store: the only code that writes them."""
