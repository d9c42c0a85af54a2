"""Built-in search spaces; importing this package registers them (``create_space("micro")``)."""
from . import macro  # noqa: F401
from . import micro  # noqa: F401
from . import nb201  # noqa: F401
from . import rnn  # noqa: F401
