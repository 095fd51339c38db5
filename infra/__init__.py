"""The CDK app, the local stack and the command line."""
