"""Plain-int attributes that hold a width group's size, for models that reshape to them.

``x.reshape(n, self.hidden_dim, -1)`` is traced with ``hidden_dim`` as a literal number: the
analysis sees a reshape to a fixed number of units and refuses the group, since the widened
model would still reshape to the old number. Registering the attribute (on the class that owns
it, with the producer whose width it holds) lets widening set it to the new width.
"""

from __future__ import annotations

from torch import nn

__all__ = ["register_size_attribute", "size_attributes"]

#: "module.QualifiedClass" -> [(attribute, producer relative to the instance)]
SIZE_ATTRIBUTES: dict[str, list[tuple[str, str]]] = {}


def _key(cls: type | str) -> str:
    return cls if isinstance(cls, str) else f"{cls.__module__}.{cls.__qualname__}"


def register_size_attribute(cls: type | str, attribute: str, producer: str) -> None:
    """Instances of ``cls`` keep the width of ``producer`` (a submodule name relative to the
    instance) in the int ``attribute``; widening that producer's group updates it.
    ``cls`` may be given as ``"package.module.Class"`` so that registering imports nothing."""
    SIZE_ATTRIBUTES.setdefault(_key(cls), []).append((attribute, producer))


def size_attributes(model: nn.Module) -> dict[str, list[str]]:
    """Producer name -> the attributes (``owner.attribute``) that hold its width."""
    out: dict[str, list[str]] = {}
    for name, m in model.named_modules():
        for attr, producer in SIZE_ATTRIBUTES.get(_key(type(m)), []):
            prefix = f"{name}." if name else ""
            out.setdefault(prefix + producer, []).append(prefix + attr)
    return out


register_size_attribute(
    "torchvision.models.vision_transformer.VisionTransformer", "hidden_dim", "conv_proj"
)
