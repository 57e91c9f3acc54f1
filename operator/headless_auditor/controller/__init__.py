"""The operator: kopf handlers, the scheduler, the publisher, the process."""
