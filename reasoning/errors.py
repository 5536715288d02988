"""The one error type users see: a problem with their input, told in one line with the fix."""


class ReasoningError(Exception):
    """Bad input (config, model path, device, dataset row). The message names the problem and the fix."""
