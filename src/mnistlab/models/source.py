"""Where a network comes from: the registry, a file the user wrote, an importable module, or an instance.

A model reference is one of
  ref3                     a registered name (`mnistlab models`)
  path/to/my_net.py:Net    a class or factory in a Python file
  package.module:Net       a class or factory importable from sys.path
`Net` is an `nn.Module` subclass or a function returning one; constructor kwargs come from model_kwargs.

Naming a file or a module on the command line is the user's own decision to run its code. Reading one back
from a run folder is not: `rundir.load_model` asks for `trust_code` (trust.py) before anything here executes
a run's copy. Every way a user's network can be wrong ends in one MnistlabError line, never a traceback.
"""

import hashlib
import importlib
import importlib.util
import inspect
import sys
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from ..errors import MnistlabError

PROBE_SHAPE = (2, 1, 28, 28)  # two images: BatchNorm in train mode needs more than one value per channel


@dataclass(frozen=True)
class ModelRef:
    kind: str  # "registry" | "file" | "module"
    target: str  # the registered name, the file's path, or the module's dotted path
    attr: str = ""  # the class or factory inside the file or module

    @property
    def label(self) -> str:
        """A short name for folders and tables: the class name, or the registered name."""
        return self.attr or self.target


def parse_ref(text: str) -> ModelRef:
    """'ref3' | 'dir/my_net.py:Net' | 'pkg.mod:Net' -> ModelRef; only the spelling is checked here."""
    if not isinstance(text, str) or not text.strip():
        raise MnistlabError("model: give a registered name, FILE.py:Name or package.module:Name")
    target, sep, attr = text.rpartition(":")
    if not sep:
        return ModelRef("registry", text)
    if not target or not attr.isidentifier():
        raise MnistlabError(f"model {text!r}: expected FILE.py:Name or package.module:Name (Name a Python identifier)")
    if target.endswith(".py") or "/" in target or "\\" in target:
        return ModelRef("file", target, attr)
    if not all(part.isidentifier() for part in target.split(".")):
        raise MnistlabError(f"model {text!r}: {target!r} is neither a .py file nor a dotted module path")
    return ModelRef("module", target, attr)


def sha256_file(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def module_classes(namespace) -> list[str]:
    """The nn.Module subclasses a file or module defines itself (not the ones it imports)."""
    name = getattr(namespace, "__name__", None)
    return sorted(
        k
        for k, v in vars(namespace).items()
        if inspect.isclass(v) and issubclass(v, nn.Module) and getattr(v, "__module__", None) == name
    )


_LOADED: dict[tuple[str, str], object] = {}  # (resolved path, sha256) -> module: a file runs once per process


def exec_file(path: str | Path, label: str | None = None):
    """Run a Python file as a fresh module and return it. A syntax error names the file and line; an
    exception while it runs names the line in that file where it was raised."""
    path = Path(path)
    label = label or str(path)
    if not path.is_file():
        raise MnistlabError(f"model file {label}: not found" if not path.exists() else f"{label}: not a file")
    try:
        source = path.read_bytes()
    except OSError as e:
        raise MnistlabError(f"model file {label}: cannot read ({e.strerror or e})") from None
    key = (str(path.resolve()), hashlib.sha256(source).hexdigest())
    if key in _LOADED:
        return _LOADED[key]
    try:
        code = compile(source, str(path), "exec")
    except (SyntaxError, ValueError) as e:
        where = f"{label}:{e.lineno}" if getattr(e, "lineno", None) else label
        raise MnistlabError(f"{where}: syntax error: {getattr(e, 'msg', e)}") from None
    name = f"mnistlab_user_{key[1][:16]}"
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses and typing look a class's module up while the file runs
    folder = str(path.resolve().parent)
    sys.path.insert(0, folder)  # so the file can import its sibling files, as `python my_net.py` could
    try:
        exec(code, module.__dict__)
    except Exception as e:  # noqa: BLE001 - any error in the user's file becomes one line
        sys.modules.pop(name, None)
        raise MnistlabError(f"{label}{_user_line(e, str(path))}: running the file raised {_one_line(e)}") from None
    finally:
        try:
            sys.path.remove(folder)
        except ValueError:
            pass
    _LOADED[key] = module
    return module


def resolve(ref: ModelRef) -> Callable[..., nn.Module]:
    """The class or factory a file or module reference names (executing the file or importing the module)."""
    if ref.kind == "file":
        namespace, where = exec_file(ref.target), ref.target
    else:
        try:
            namespace = importlib.import_module(ref.target)
        except ImportError as e:
            raise MnistlabError(f"model {ref.target}:{ref.attr}: cannot import {ref.target!r} ({e})") from None
        except Exception as e:  # noqa: BLE001 - the module's own code failed while importing
            raise MnistlabError(f"model {ref.target}:{ref.attr}: importing it raised {_one_line(e)}") from None
        where = f"module {ref.target}"
    return pick(namespace, ref.attr, where)


def pick(namespace, attr: str, where: str) -> Callable[..., nn.Module]:
    """`namespace.attr`, refused unless it is an nn.Module subclass or a function (a factory)."""
    if not attr.isidentifier() or not hasattr(namespace, attr):
        classes = module_classes(namespace)
        has = f"its nn.Module classes: {', '.join(classes)}" if classes else "it defines no nn.Module class"
        raise MnistlabError(f"{where} has no {attr!r}; {has}")
    obj = getattr(namespace, attr)
    is_module_class = inspect.isclass(obj) and issubclass(obj, nn.Module)
    if not is_module_class and not (inspect.isfunction(obj) or inspect.ismethod(obj)):
        kind = f"a class that is not an nn.Module ({obj.__name__})" if inspect.isclass(obj) else type(obj).__name__
        raise MnistlabError(f"{where}: {attr!r} is {kind}; name an nn.Module subclass or a function that returns one")
    return obj


def build(builder: Callable[..., nn.Module], kwargs: dict, label: str) -> nn.Module:
    """Call a user's class or factory; whatever it raises, or a result that is not a module, is one line."""
    try:
        model = builder(**kwargs)
    except Exception as e:  # noqa: BLE001 - the user's constructor: any exception becomes one line
        args = f" with model_kwargs {kwargs}" if kwargs else ""
        raise MnistlabError(f"model {label}: building it{args} raised {_one_line(e)}{_origin(e)}") from None
    if not isinstance(model, nn.Module):
        raise MnistlabError(f"model {label}: the factory returned {type(model).__name__}, not an nn.Module")
    return model


def probe(model: nn.Module, label: str) -> None:
    """Refuse a network that cannot train on digits: no parameters, or a forward pass on a (2, 1, 28, 28)
    batch that raises or does not return (2, 10). Runs in eval mode under no_grad, so BatchNorm statistics
    do not move, and puts the model back in the mode it was in."""
    n = sum(p.numel() for p in model.parameters())
    if n == 0:
        raise MnistlabError(f"model {label}: has no parameters to train")
    device = next(model.parameters()).device
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            out = model(torch.zeros(PROBE_SHAPE, device=device))
    except Exception as e:  # noqa: BLE001 - the user's forward: any exception becomes one line
        raise MnistlabError(
            f"model {label}: forward on a {_shape(PROBE_SHAPE)} batch raised {_one_line(e)}{_origin(e)}"
        ) from None
    finally:
        model.train(was_training)
    if not isinstance(out, torch.Tensor):
        raise MnistlabError(
            f"model {label}: forward returned {type(out).__name__}; expected a (N, 10) tensor for (N, 1, 28, 28)"
        )
    if tuple(out.shape) != (PROBE_SHAPE[0], 10):
        raise MnistlabError(
            f"model {label}: forward on a {_shape(PROBE_SHAPE)} batch returned {_shape(out.shape)}; expected (2, 10)"
            + (" (flatten before the last layer, or drop the extra dimensions)" if out.dim() > 2 else "")
        )


def _shape(shape) -> str:
    return "(" + ", ".join(str(d) for d in shape) + ")"


def _one_line(e: BaseException) -> str:
    text = str(e).strip().splitlines()
    return f"{type(e).__name__}: {text[0].strip()}" if text else type(e).__name__


def _origin(e: BaseException) -> str:
    """' (at FILE:LINE)' for the deepest frame outside torch and mnistlab: where the user's code failed."""
    ours = (str(Path(torch.__file__).parent), str(Path(__file__).parents[1]))
    frames = [f for f in traceback.extract_tb(e.__traceback__) if not f.filename.startswith(ours)]
    return f" (at {Path(frames[-1].filename).name}:{frames[-1].lineno})" if frames else ""


def _user_line(e: BaseException, filename: str) -> str:
    """':LINE' of the deepest frame of the user's file in the traceback, or ''."""
    lines = [f.lineno for f in traceback.extract_tb(e.__traceback__) if f.filename == filename]
    return f":{lines[-1]}" if lines else ""
