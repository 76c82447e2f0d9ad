"""One error tree for zen_mlmd.

Every error a user sees says what failed, the field or value involved, and
how to fix it. MLMD's own exceptions are translated at the `zen_mlmd.mlmd`
boundary; no message ever contains a secret.
"""
from __future__ import annotations

import difflib
from typing import Iterable


class ZenMLMDError(Exception):
    """Base class of every error raised by zen_mlmd."""


class ConfigError(ZenMLMDError, ValueError):
    """A configuration value is invalid.

    Args:
        field: the name of the offending field (as the user spells it).
        value: the offending value (already masked when it is a secret).
        problem: what is wrong with it.
        fix: what to do instead.
    """

    def __init__(self, field: str, value: object, problem: str, fix: str = ""):
        self.field = field
        self.value = value
        self.problem = problem
        self.fix = fix
        message = f"{field}={value!r}: {problem}"
        if fix:
            message += (" " if message.endswith("?") else ". ") + f"Fix: {fix}"
        super().__init__(message)


class UnknownNameError(ZenMLMDError, KeyError):
    """A name (flavor, component, stack, pipeline, run, ...) does not exist.

    The message stays short however many names exist: at most `MAX_MATCHES`
    close matches (by prefix, then `difflib`), the valid names only when they
    fit on a short line, and always a `Fix:` saying how to list the rest
    (`fix`, or the list command of `kind`). `known=None` means the valid
    names are not listed (too many, e.g. ids).
    """

    #: Close matches shown at most.
    MAX_MATCHES = 3
    #: Valid names are listed when there are at most this many, on at most
    #: `MAX_LISTED_CHARS` characters.
    MAX_LISTED = 12
    MAX_LISTED_CHARS = 120

    def __init__(self, kind: str, name: str, known: Iterable[str] | None = (), fix: str = ""):
        self.kind = kind
        self.name = name
        known = None if known is None else sorted(set(map(str, known)))
        self.known = known or []
        message = f"unknown {kind} {name!r}"
        if known:
            # long generated names (`training-2026_11_30-...`) are found by prefix
            close = [k for k in known if k.startswith(str(name))][:self.MAX_MATCHES] or \
                difflib.get_close_matches(str(name), known, n=self.MAX_MATCHES, cutoff=0.6)
            listed = ", ".join(known)
            if close:
                message += f"; did you mean {', '.join(repr(c) for c in close)}?"
            elif len(known) <= self.MAX_LISTED and len(listed) <= self.MAX_LISTED_CHARS:
                message += f"; valid options are: {listed}"
            else:
                message += "; no name is close to it"
        elif known is not None:
            message += f"; there is no {kind} yet"
        fix = fix or _default_fix(kind)
        message += (" " if message.endswith("?") else ". ") + f"Fix: {fix}"
        super().__init__(message)

    def __str__(self) -> str:  # KeyError would repr() the message
        return self.args[0]


#: How to list the names of each kind (the `Fix:` of an unknown name).
_LIST_COMMANDS = {
    "run": "zen-mlmd run list",
    "pipeline": "zen-mlmd pipeline list",
    "metadata store": "zen-mlmd metadata-store list",
    "metadata-store flavor": "zen-mlmd metadata-store flavor list",
    "artifact store": "zen-mlmd artifact-store list",
    "orchestrator": "zen-mlmd orchestrator list",
    "orchestrator flavor": "zen-mlmd orchestrator flavor list",
    "stack": "zen-mlmd stack list",
    "step": "zen-mlmd run describe RUN",
}


def _default_fix(kind: str) -> str:
    command = _LIST_COMMANDS.get(kind)
    if command:
        return f"list the valid names with `{command}`"
    return f"check the {kind} name"


class AlreadyExistsError(ZenMLMDError):
    """Something with this name already exists (a component, a run name)."""


class InUseError(ZenMLMDError):
    """A component cannot be deleted because a stack uses it."""


class PreflightError(ZenMLMDError):
    """A metadata store could not be reached or used; the message names the cause."""


class StoreNotCreatedError(PreflightError):
    """A read found no MLMD store where a metadata store points (a missing file or
    database, or one without MLMD's tables): reads never create one."""


class StoreNotStartedError(StoreNotCreatedError):
    """A store whose file zen_mlmd places itself (the default store, or one
    registered without a path) before its first run: it has no records yet."""


class SchemaVersionError(ZenMLMDError):
    """The database schema does not match this ml-metadata library version."""


class StoreError(ZenMLMDError):
    """An MLMD call failed; the message carries MLMD's own reason."""


class ReadOnlyStoreError(StoreError):
    """A write call on a store opened for reading (`open(read_only=True)`)."""


class StoreUnavailableError(StoreError):
    """The metadata store did not answer (server down, network, timeout)."""


class PublishWrittenError(StoreUnavailableError):
    """A step's publish raised, yet the store holds it (or cannot say): nothing more is recorded.

    The step stays as the store has it (COMPLETE with LIVE outputs when the
    write was committed and only its answer was lost); its outputs are
    kept, never removed under LIVE records.
    """


class StepFailedError(ZenMLMDError):
    """A pipeline step raised; the run stopped and the failure is recorded."""

    def __init__(self, step_name: str, run_name: str, cause: BaseException):
        self.step_name = step_name
        self.run_name = run_name
        self.cause = cause
        where = _innermost_user_frame(cause)
        super().__init__(
            f"step {step_name!r} of run {run_name!r} failed: "
            f"{type(cause).__name__}: {cause}" + (f" (at {where})" if where else "")
            + f". Fix: read the recorded traceback with `zen-mlmd run describe {run_name}`"
        )


class PublishFailedError(ZenMLMDError):
    """A step's held-back publish could not be written; the step is recorded FAILED.

    Raised by the write that carried the publish (see
    `zen_mlmd.tracking.recorder.StepRecorder.publish`), after the step was
    recorded as failed and its saved outputs were removed.
    """

    def __init__(self, step_name: str, cause: BaseException):
        self.step_name = step_name
        self.cause = cause
        super().__init__(
            f"step {step_name!r} ran, but publishing its outputs failed: "
            f"{type(cause).__name__}: {cause}. The step is recorded as failed; "
            "Fix: see the cause, then run the pipeline again")


class RunFailedError(ZenMLMDError):
    """A run failed without a step to blame: an orchestrator's task died before
    it could record its step. The message says where its log is."""


def _innermost_user_frame(error: BaseException) -> str:
    """`file:line in function` of the innermost frame outside zen_mlmd, if any."""
    import os
    import traceback

    package = os.path.dirname(os.path.abspath(__file__))
    frames = [f for f in traceback.extract_tb(error.__traceback__)
              if not os.path.abspath(f.filename).startswith(package + os.sep)]
    if not frames:
        return ""
    frame = frames[-1]
    return f"{frame.filename}:{frame.lineno} in {frame.name}"


class MaterializerError(ZenMLMDError):
    """An artifact could not be written or read by its materializer."""


class ArtifactTrustError(MaterializerError):
    """Reading an artifact was refused: it lies outside every trusted artifact
    store, or its format runs code when loaded and its store is not trusted.
    Nothing was loaded."""


class ArtifactIntegrityError(MaterializerError):
    """An artifact's stored bytes do not match the content hash recorded for it
    (or no hash was recorded to check them against). Nothing was loaded."""
