"""A timm-style model registry: `@register` a builder by name, `create_model(name, **kwargs)` builds it."""

from collections.abc import Callable
from dataclasses import dataclass

from torch import nn

from ..errors import MnistlabError
from .source import build, parse_ref, probe, resolve


@dataclass(frozen=True)
class ModelEntry:
    name: str
    builder: Callable[..., nn.Module]
    description: str  # one line, shown by `mnistlab models`
    config: str  # name of the preset config that reproduces its recipe


_REGISTRY: dict[str, ModelEntry] = {}


def register(name: str, description: str, config: str | None = None):
    def wrap(builder):
        if name in _REGISTRY:
            raise ValueError(f"model {name!r} registered twice")
        _REGISTRY[name] = ModelEntry(name, builder, description, config or name)
        return builder

    return wrap


def check_name(name: str) -> None:
    """Refuse an unknown registered name or a malformed reference, without executing anything."""
    if parse_ref(name).kind == "registry":
        model_entry(name)


def names_a_model(target: str) -> bool:
    """Whether `target` is meant as a model rather than a run folder: a registered name, a reference to user
    code, or a bare FILE.py (which create_model answers with the spelling it needs)."""
    return target in _REGISTRY or parse_ref(target).kind != "registry" or target.endswith(".py")


def list_models() -> list[str]:
    return sorted(_REGISTRY)


def model_entry(name: str) -> ModelEntry:
    if name not in _REGISTRY and name.endswith(".py"):
        raise MnistlabError(f"model {name!r}: name the network in the file too: {name}:Net (a class or a function)")
    if name not in _REGISTRY:
        raise MnistlabError(f"unknown model {name!r}; known models: {', '.join(list_models())}")
    return _REGISTRY[name]


def create_model(name: str, **kwargs) -> nn.Module:
    """A registered name, or a reference to the user's own code (FILE.py:Name, package.module:Name), which
    is then checked on a probe batch (source.probe) so a network that cannot train fails here, in one line."""
    ref = parse_ref(name)
    if ref.kind != "registry":
        model = build(resolve(ref), kwargs, name)
        probe(model, name)
        return model
    try:
        return model_entry(name).builder(**kwargs)
    except (TypeError, ValueError) as e:
        raise MnistlabError(f"model {name!r}: bad constructor arguments {kwargs}: {e}") from None


def resolved_kwargs(model: nn.Module, given: dict) -> dict:
    """Every constructor argument the model was built with (defaults included) where it records them
    (`init_kwargs`), else the ones given: what model.json stores to rebuild the same network later."""
    return {**given, **getattr(model, "init_kwargs", {})}


def count_params(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())
