"""The pure core: API objects in, expected records, findings and verdicts out. No I/O."""
