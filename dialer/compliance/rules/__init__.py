"""The gate's rules, one module per concern; each rule is a small object with a stable `id`."""
