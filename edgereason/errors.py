"""One error hierarchy, so the CLI can print one line and pick the exit code.

A `UsageError` is the user's to fix (bad name, bad path, bad flag): exit 2. Anything else derived
from `EdgeReasonError` is an internal failure: exit 1. Every message names the fix.
"""


class EdgeReasonError(Exception):
    """Base of every error edgereason raises on purpose."""

    exit_code = 1


class UsageError(EdgeReasonError):
    """The user can fix this: a wrong name, path, option or file."""

    exit_code = 2


class SettingError(UsageError):
    """A setting of a library config (SolveConfig, ExitConfig, SamplingConfig...) that is out of range.

    The library names fields, never flags: `text` holds `{0}`, `{1}`... for `fields`; `str()` writes the field
    names, and the CLI writes its command's own flag for each field it has (`render`).
    """

    def __init__(self, text: str, *fields: str) -> None:
        self.text, self.fields = text, fields
        super().__init__(self.render({}))

    def render(self, names: dict[str, str]) -> str:
        return self.text.format(*(names.get(f, f) for f in self.fields))


class ModelSourceError(UsageError):
    """A model name, checkpoint dir or GGUF file that cannot be used."""


class UnsupportedModelError(UsageError):
    """A checkpoint whose architecture no exporter here supports."""


class ArtifactError(UsageError):
    """An artifact folder that is missing, incomplete or fails its checksums."""


class OutputError(UsageError):
    """The output location exists or cannot be written."""


class ExportError(EdgeReasonError):
    """An exporter failed on input that passed validation (a bug or an upstream limit)."""


class GateError(EdgeReasonError):
    """An artifact failed the accuracy gate; `--force` keeps it anyway."""
