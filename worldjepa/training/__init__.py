"""Helpers for `worldjepa.train`: device/precision, distributed setup, schedules, sampling, loggers, state."""
