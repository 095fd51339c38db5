"""The pure core: models and the reconciler. Imports nothing of ours outside itself."""
