"""One construct per capability: storage, api, sync, notify, observability (and the functions)."""
