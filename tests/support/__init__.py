"""Test support: in-memory fakes of the ports and a driver for the services."""
