"""mptop's widgets: core meters, worker table, channel table, event log."""
