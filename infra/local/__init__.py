"""The local stack: everything `hris-sync demo` and `local up` run on one machine."""
