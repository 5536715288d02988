"""The one error type users see: a problem with their input, told in one line with the fix."""


class ReasoningError(Exception):
    """Bad input (config, model path, device, dataset row). The message names the problem and the fix."""


class RunStopped(ReasoningError):
    """The run stopped part-way (Ctrl-C, disk full, read-only disk): the message says what is saved and
    how to resume. `exit_code` follows the shell's habit: 130 after an interrupt."""

    def __init__(self, message: str, exit_code: int = 1):
        super().__init__(message)
        self.exit_code = exit_code
