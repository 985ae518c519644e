"""What services read: per-agency counters turned into figures, indicator values, targets
and verdicts, and the roll-up scorecard."""
