"""The outputs of an audit: conditions, the report object, Events, metrics."""
