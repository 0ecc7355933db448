"""The original package's ``src`` folder: only ``deployer`` is provided."""
