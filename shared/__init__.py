"""hris-sync's shared code: shipped to every function as the Lambda layer."""
