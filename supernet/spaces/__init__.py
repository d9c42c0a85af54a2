"""Built-in search spaces; importing this package registers them (``create_space("micro")``)."""
from . import micro  # noqa: F401
