"""What the SLURM profile needs before its first submission: an account and a partition.

``profiles/slurm/config.yaml`` names them in ``default-resources`` as placeholders of
environment variables (``slurm_account: "'$SELCN_SLURM_ACCOUNT'"``). Snakemake expands such a
placeholder only when it evaluates a job's resources, and an unset variable stays the literal
text ``$SELCN_SLURM_ACCOUNT``: a dry run shows it and exits 0, and the real run fails at the
first ``sbatch``. :func:`check_profile_resources` finds an unset or empty one while the
Snakefile is read (``rules/common.smk``), so both refuse to start with a message that says what
to set. A literal name written into the profile in place of the placeholder passes.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping

from selcn.errors import ConfigError

__all__ = ["PROFILE_RESOURCES", "unset_placeholders", "check_profile_resources"]

#: the default resources of the SLURM profile that must name something
PROFILE_RESOURCES: tuple[str, ...] = ("slurm_account", "slurm_partition")
_VARIABLE = re.compile(r"\$(?:\{(\w+)\}|(\w+))")
_QUOTES = "'\" "


def unset_placeholders(raw: Mapping[str, object],
                       environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """The resources of :data:`PROFILE_RESOURCES` in ``raw`` (a resource name -> its
    expression as the profile wrote it, e.g. ``"'$SELCN_SLURM_ACCOUNT'"``) that would be
    submitted unset, each with the reason: an environment variable it names is unset or empty
    in ``environ`` (default ``os.environ``), or its text is empty. Resources absent from ``raw``
    (no SLURM profile) and non-text values are fine."""
    env = os.environ if environ is None else environ
    problems: dict[str, str] = {}
    for name in PROFILE_RESOURCES:
        value = raw.get(name)
        if not isinstance(value, str):
            continue
        names = [a or b for a, b in _VARIABLE.findall(value)]
        unset = [var for var in names if not env.get(var, "").strip()]
        if unset:
            problems[name] = (f"{value.strip(_QUOTES)!r}, but the environment variable "
                              f"{', '.join(unset)} is unset or empty")
        elif not _VARIABLE.sub(lambda m: env[m.group(1) or m.group(2)], value).strip(_QUOTES):
            problems[name] = "empty"
    return problems


def check_profile_resources(raw: Mapping[str, object],
                            environ: Mapping[str, str] | None = None) -> None:
    """Raise ConfigError naming every resource :func:`unset_placeholders` finds and what to
    do (export the variables, or write the names into the profile); return None otherwise."""
    problems = unset_placeholders(raw, environ)
    if not problems:
        return
    lines = "\n".join(f"  default-resources {name} is {why}" for name, why in problems.items())
    raise ConfigError(
        "the SLURM profile has no account / partition to submit to:\n"
        f"{lines}\n"
        "Export them in this shell, e.g.\n"
        "  export SELCN_SLURM_ACCOUNT=my_account SELCN_SLURM_PARTITION=gpu\n"
        "or write the names into profiles/slurm/config.yaml in place of the $SELCN_SLURM_... "
        "placeholders (docs/hpc.md, step 2). Nothing was submitted.")
