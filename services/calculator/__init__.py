"""Calculator: Faust agents apply dossier and document events to per-agency counters in Redis."""
