"""Authentication of the admin API's callers (token verification for the Lambda authorizer)."""
