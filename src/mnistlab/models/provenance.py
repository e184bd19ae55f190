"""A run's record of where its network came from, and how it is built back.

model.json's "source" (absent for registry models, which rebuild from their name alone):
  {"kind": "file", "file": "model.py", "origin": "/abs/my_net.py", "object": "Net", "sha256": "..."}
      the user's file, copied beside the weights; a network defined in a notebook cell is saved the same
      way, its class sources gathered into model.py ("origin": "notebook")
  {"kind": "module", "module": "pkg.mod", "object": "Net"}
      importable code: the import path is recorded, nothing is copied
  {"kind": "instance", "object": "Net"}
      no code could be retrieved: the network must be passed back in (load_model(run, model=Net()))

Building one back executes code that a run folder names, and a run folder can come from anyone, so it is
never implicit: `trust_code=True` (CLI `--trust-code`) or the network itself must be given. A copy whose
SHA-256 differs from the one recorded is refused even then.
"""

import inspect
import linecache
import shutil
import sys
import textwrap
from pathlib import Path

from torch import nn

from ..errors import MnistlabError
from .registry import create_model
from .source import ModelRef, build, exec_file, parse_ref, pick, probe, resolve, sha256_file

COPY = "model.py"
NOTEBOOK_HEADER = (
    "# The network's source, saved by mnistlab from the notebook it was defined in.\n"
    "import math\n\nimport torch\nimport torch.nn.functional as F\nfrom torch import nn\n"
)


def reference_for(model: nn.Module) -> str:
    """The model field of a run trained from an instance: `module:Class` (`__main__:Net` in a notebook)."""
    cls = type(model)
    name = cls.__qualname__ if cls.__qualname__.isidentifier() else cls.__name__
    return f"{cls.__module__}:{name}"


def record_source(model_ref: str, run_dir: Path, instance: nn.Module | None = None) -> dict:
    """Copy the code a run needs beside its weights; return model.json's {"source": ...} (or {})."""
    if instance is not None:
        return _record_instance(instance, run_dir)
    ref = parse_ref(model_ref)
    if ref.kind == "registry":
        return {}
    if ref.kind == "module":
        return {"source": {"kind": "module", "module": ref.target, "object": ref.attr}}
    return _record_file(Path(ref.target), ref.attr, run_dir)


def _record_file(path: Path, attr: str, run_dir: Path) -> dict:
    shutil.copyfile(path, run_dir / COPY)
    origin = str(path.resolve())
    return {"source": {"kind": "file", "file": COPY, "origin": origin, "object": attr, "sha256": sha256_file(path)}}


def _record_instance(model: nn.Module, run_dir: Path) -> dict:
    cls = type(model)
    module = sys.modules.get(cls.__module__)
    file = getattr(module, "__file__", None)
    installed = cls.__module__.split(".")[0] == "mnistlab" or any(
        part in ("site-packages", "dist-packages") for part in Path(file or "").parts
    )
    if cls.__module__ != "__main__" and installed:  # importable as it is: record the import path
        return {"source": {"kind": "module", "module": cls.__module__, "object": cls.__name__}}
    if cls.__module__ != "__main__" and file and Path(file).suffix == ".py" and Path(file).is_file():
        return _record_file(Path(file), cls.__name__, run_dir)  # a class imported from the user's own file
    if cls.__module__ == "__main__":
        text = notebook_source(model)
        if text is not None:
            (run_dir / COPY).write_text(text)
            sha = sha256_file(run_dir / COPY)
            return {"source": {"kind": "file", "file": COPY, "origin": "notebook", "object": cls.__name__,
                               "sha256": sha}}  # fmt: skip
    return {"source": {"kind": "instance", "object": cls.__name__}}


def notebook_source(model: nn.Module) -> str | None:
    """The source of the model's class and of every class of its submodules defined beside it (a notebook's
    `__main__`), helpers first, under the usual imports; None when Python cannot retrieve one of them.

    Python 3.11 cannot `inspect.getsource` a class of `__main__` in a kernel (the module has no file), but
    its methods' code points into the cell, which IPython keeps in linecache: the class block is read there.
    """
    classes = []
    for m in reversed(list(model.modules())):  # submodules first: a helper is defined before its user
        cls = type(m)
        if cls.__module__ == "__main__" and cls not in classes:
            classes.append(cls)
    parts = []
    for cls in classes:
        text = _class_source(cls)
        if text is None:
            return None
        parts.append(text)
    return NOTEBOOK_HEADER + "\n\n" + "\n\n".join(parts) + "\n"


def _class_source(cls) -> str | None:
    try:
        return textwrap.dedent(inspect.getsource(cls))
    except (OSError, TypeError):
        pass
    for value in vars(cls).values():
        code = getattr(inspect.unwrap(value), "__code__", None) if callable(value) else None
        if code is None:
            continue
        lines = linecache.getlines(code.co_filename)
        start = next((i for i in range(code.co_firstlineno - 1, -1, -1)
                      if lines[i].lstrip().startswith(f"class {cls.__name__}")), None)  # fmt: skip
        if start is not None:
            return textwrap.dedent("".join(inspect.getblock(lines[start:])))
    return None


def needs_code(meta: dict) -> bool:
    """Whether building this run's network executes code other than mnistlab's own."""
    return bool(meta.get("source")) or parse_ref(str(meta.get("name", ""))).kind != "registry"


def describe(meta: dict) -> str:
    src = meta.get("source") or {}
    if src.get("kind") == "file":
        return f"its copy {src.get('file', COPY)} of {src.get('origin')}, {src.get('object')}"
    if src.get("kind") == "module":
        return f"{src.get('module')}:{src.get('object')}"
    return str(meta.get("name"))


def named_by_user(model_ref: str, meta: dict) -> bool:
    """Whether a run's code is the very code `model_ref` names now (the same file, byte for byte, or the same
    import path): resuming it runs nothing the user has not already chosen to run."""
    ref, src = parse_ref(model_ref), meta.get("source") or {}
    if meta.get("name") != model_ref or ref.kind == "registry":
        return False
    if ref.kind == "module":
        return (src.get("kind"), src.get("module"), src.get("object")) == ("module", ref.target, ref.attr)
    path = Path(ref.target)
    return src.get("kind") == "file" and path.is_file() and sha256_file(path) == src.get("sha256")


def build_from_meta(run_dir: Path, meta: dict, trust_code: bool = False) -> nn.Module:
    """A fresh (untrained) network of the kind model.json records, executing the run's code only if trusted."""
    run_dir = Path(run_dir)
    if "name" not in meta:
        raise MnistlabError(f"{run_dir / 'model.json'}: no 'name' field")
    kwargs = meta.get("kwargs", {}) or {}
    if not needs_code(meta):
        return create_model(meta["name"], **kwargs)
    src = meta.get("source") or {}
    if src.get("kind") == "instance":
        raise MnistlabError(
            f"{run_dir} was trained from an instance of {src.get('object')} whose source was not saved: "
            f"pass the network (load_model(run, model={src.get('object')}()))"
        )
    if not trust_code:
        raise MnistlabError(
            f"{run_dir} holds a network defined in code ({describe(meta)}); loading it runs that code: pass the "
            "network (load_model(run, model=Net())) or, if you trust this run folder, opt in (trust_code=True; "
            "CLI --trust-code)"
        )
    if src.get("kind") == "file":
        copy = run_dir / Path(str(src.get("file", COPY))).name  # never a path outside the run folder
        if not copy.is_file():
            raise MnistlabError(f"{copy}: the run's copy of its network's code is missing")
        if sha256_file(copy) != src.get("sha256"):
            raise MnistlabError(f"{copy}: does not match the SHA-256 recorded in model.json (changed since training)")
        label = f"{copy} ({src.get('object')})"
        builder = pick(exec_file(copy), str(src.get("object", "")), str(copy))
    else:
        ref = ModelRef("module", str(src.get("module", "")), str(src.get("object", "")))
        label, builder = f"{ref.target}:{ref.attr}", resolve(ref)
    model = build(builder, kwargs, label)
    probe(model, label)
    return model
