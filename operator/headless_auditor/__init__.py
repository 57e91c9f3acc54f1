"""headless-auditor: audits headless Services against what CoreDNS really answers."""

__version__ = "0.1.0"
