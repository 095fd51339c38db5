"""HR-system connectors: one module per vendor, a registry of names -> providers."""
