"""The one error type for bad input data."""

from os import PathLike


class DataError(ValueError):
    """Bad input: the message names the file (or source), the field and the problem."""

    def __init__(self, source: str | PathLike[str], field: str, problem: str):
        self.source, self.field, self.problem = str(source), field, problem
        super().__init__(f"{self.source}: {field}: {problem}")
