"""workload subpackage."""
