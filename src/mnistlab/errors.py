"""One exception type for everything a user can get wrong.

The CLI turns a `MnistlabError` into one line on stderr and its `exit_code`; anything else is a bug and
keeps its traceback.
"""


class MnistlabError(Exception):
    """A problem with the user's input or environment, told in one sentence."""

    def __init__(self, message: str, exit_code: int = 2):
        super().__init__(message)
        self.exit_code = exit_code


class DataError(MnistlabError):
    """A data file is missing, corrupt, truncated or not the file it claims to be (exit code 2)."""
