"""One folder per Lambda function, each a thin handler."""
