"""Goal-reaching evaluation: the task protocol, the `worldjepa plan` runner, records, results, videos and plots."""
