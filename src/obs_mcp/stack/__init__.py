"""Native mode: build the stack's four programs from Go modules and run them as local processes."""
