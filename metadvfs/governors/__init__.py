"""governors subpackage."""
