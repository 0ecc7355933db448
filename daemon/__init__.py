"""The auto-update daemon (an entry point): ``lifecycle watch``."""
