"""Use cases: one function per admin action or sync step, taking ports (never building them)."""
