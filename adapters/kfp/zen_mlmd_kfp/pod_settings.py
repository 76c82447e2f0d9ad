"""What every task's pod gets: its image, the packages it installs, its environment and its secrets.

The compiled package says it all, in the KFP way: each component's
`packages_to_install` (pinned to the versions installed on the submitting
machine, so that the pods run the code that was compiled), whether kfp
itself is installed, the pip indexes, plain environment variables in the
container spec, and each secret as a Kubernetes Secret reference
(kfp-kubernetes' `use_secret_as_env`, which KFP's driver turns into the
pod's `env[].valueFrom.secretKeyRef`): never a secret value.
"""
from __future__ import annotations

import re
import warnings
from dataclasses import dataclass, field
from importlib import metadata
from typing import Iterable, Mapping

from zen_mlmd.errors import ConfigError

#: fsspec backends of object stores (the protocol's package), by protocol.
FSSPEC_BACKENDS = {"s3": "s3fs", "s3a": "s3fs", "gs": "gcsfs", "gcs": "gcsfs", "az": "adlfs",
                   "abfs": "adlfs", "abfss": "adlfs"}
_BARE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")


@dataclass(frozen=True)
class PodSettings:
    """The pod of every task (see the module docstring)."""

    image: str
    #: pip requirements each task installs, in order ("" none: the image has everything).
    packages: tuple[str, ...] = ()
    install_kfp_package: bool = True
    pip_index_urls: tuple[str, ...] | None = None
    environment: Mapping[str, str] = field(default_factory=dict)
    #: environment variable -> (Kubernetes Secret, key)
    secrets: Mapping[str, tuple[str, str]] = field(default_factory=dict)

    def summary(self) -> str:
        """One line: what each pod installs and which secrets it reads."""
        installs = ", ".join(self.packages) or "nothing (the image has it all)"
        kfp = " plus kfp" if self.install_kfp_package else ""
        secrets = ", ".join(f"{env} from secret {name}/{key}" for env, (name, key) in self.secrets.items())
        return (f"image {self.image}; each task installs {installs}{kfp}"
                + (f"; environment from Kubernetes Secrets: {secrets}" if secrets else ""))

    def component_options(self) -> dict:
        """Keyword arguments of `kfp.dsl.component` for these settings."""
        options = {"base_image": self.image, "install_kfp_package": self.install_kfp_package,
                   "packages_to_install": list(self.packages) or None}
        if self.pip_index_urls:
            options["pip_index_urls"] = list(self.pip_index_urls)
        return options

    def apply(self, task) -> None:
        """Give a compiled task its environment and secret references."""
        for name, value in self.environment.items():
            task.set_env_variable(name, value)
        by_secret: dict[str, dict[str, str]] = {}
        for env, (secret, key) in self.secrets.items():
            by_secret.setdefault(secret, {})[key] = env
        if by_secret:
            from kfp import kubernetes

            for secret, keys in by_secret.items():
                kubernetes.use_secret_as_env(task, secret_name=secret, secret_key_to_env=keys)


def local_settings(image: str) -> PodSettings:
    """kfp.local: tasks run in this environment, installing nothing."""
    return PodSettings(image=image, install_kfp_package=False)


def cluster_settings(config, stack, step_modules: Iterable[str], secret_variables: Iterable[str]) -> PodSettings:
    """The pods of a cluster run of `stack` (config: `KubeflowOrchestratorConfig`).

    Args:
        step_modules: the modules the tasks import their steps from.
        secret_variables: environment variables the metadata store's `${NAME}`
            references name.

    Raises:
        ConfigError: a package to pin is not installed here, or the pods
            would install zen-mlmd from the image's default index
            (`check_package_index`).
    """
    packages: list[str] = []
    if config.install_packages:
        own = [pinned("zen-mlmd"), pinned("zen-mlmd-kfp")]
        check_package_index(config, own)
        packages += own
        backend = FSSPEC_BACKENDS.get(_protocol(stack.artifact_store.path))
        if backend:
            packages.append(pinned(backend, f"artifact store {stack.artifact_store.name!r}"))
        packages += [pinned(name, "the pipeline's code")
                     for name in code_distributions(step_modules, warn=not config.packages)]
    packages += [pinned(requirement, "packages") for requirement in config.packages]
    secrets = {name: (config.secret_name, name) for name in (*secret_variables, *config.secret_environment)}
    return PodSettings(image=config.image, packages=tuple(dict.fromkeys(packages)),
                       install_kfp_package=config.install_kfp_package,
                       pip_index_urls=tuple(config.pip_index_urls) if config.pip_index_urls else None,
                       environment=dict(config.environment), secrets=secrets)


def check_package_index(config, own: list[str]) -> None:
    """Refuse to let pods install this project's packages from the image's default index.

    zen-mlmd and zen-mlmd-kfp are not published on PyPI by this project, so
    a pod's plain `pip install zen-mlmd==<v>` would get whatever package
    holds that name there (or fail): the pods must get them from a baked
    image or from an index the user names.

    Raises:
        ConfigError: `install_packages` is on and `pip_index_urls` is unset.
    """
    if config.install_packages and not config.pip_index_urls:
        raise ConfigError(
            "pip_index_urls", config.pip_index_urls,
            f"each task would pip install {' '.join(own)} from the default package index of image "
            f"{config.image!r} (PyPI), where this project does not publish these packages (a package "
            "of someone else could hold those names)",
            "bake an image with them (the Dockerfile in the zen-mlmd-kfp README) and set "
            "-o image=YOUR_IMAGE -o install_packages=false, or set -o pip_index_urls=URL to the "
            "index that serves zen-mlmd and zen-mlmd-kfp (and the other packages the tasks install)")


def pinned(requirement: str, wanted_by: str = "the tasks") -> str:
    """`name==<installed version>` for a bare name; any other requirement as given.

    Raises:
        ConfigError: a bare name that is not installed here.
    """
    if not _BARE_NAME.match(requirement):
        return requirement
    try:
        return f"{requirement}=={metadata.version(requirement)}"
    except metadata.PackageNotFoundError:
        raise ConfigError("packages", requirement, f"is not installed here (needed by {wanted_by}), so "
                          "no version can be pinned", f"pip install {requirement}, or give a pinned "
                          f"requirement such as {requirement}==1.2.3") from None


def code_distributions(modules: Iterable[str], warn: bool = True) -> list[str]:
    """Installed distributions (other than zen-mlmd's) that provide the pipeline's modules.

    A module that no installed distribution provides must be in the task
    image (or installed through `packages`): said once, as a warning, unless
    `warn` is False (`packages` are given, and may provide it).
    """
    provided = metadata.packages_distributions()
    found: list[str] = []
    loose = []
    for module in modules:
        names = provided.get(module.partition(".")[0], [])
        names = [n for n in names if n.lower() not in ("zen-mlmd", "zen-mlmd-kfp", "zen_mlmd", "zen_mlmd_kfp")]
        if names:
            found.extend(names)
        elif module.partition(".")[0] not in ("zen_mlmd", "zen_mlmd_kfp"):
            loose.append(module)
    if loose and warn:
        warnings.warn(
            f"the pipeline's module(s) {', '.join(sorted(set(loose)))} are not part of an installed "
            "distribution: the task image must contain them (or give the distribution in `packages`)",
            stacklevel=3)
    return list(dict.fromkeys(found))


def _protocol(path: str) -> str:
    return path.split("://", 1)[0].lower() if "://" in path else "file"
