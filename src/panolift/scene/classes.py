"""Class sets: names, thing/stuff split. Index 0 is always void."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ClassSet:
    """A semantic class set. ``names[0]`` is void; ``thing_ids`` are the countable classes."""

    names: tuple[str, ...]
    thing_ids: tuple[int, ...]

    def __post_init__(self) -> None:
        if not self.names:
            raise ValueError("a class set needs at least the void class")
        bad = [k for k in self.thing_ids if not 0 < k < len(self.names)]
        if bad:
            raise ValueError(f"thing ids {bad} out of range 1..{len(self.names) - 1}")

    @property
    def num_classes(self) -> int:
        """Number of classes including void (C)."""
        return len(self.names)

    @property
    def stuff_ids(self) -> tuple[int, ...]:
        return tuple(k for k in range(1, self.num_classes) if k not in self.thing_ids)

    def is_thing(self, k: int) -> bool:
        return k in self.thing_ids

    def to_segmentation_data(self) -> dict:
        """The keys of segmentation_data.json / .pkl that describe this class set."""
        return {
            "num_semantic_classes": self.num_classes,
            "fg_classes": list(self.thing_ids),
            "bg_classes": list(self.stuff_ids),
            "class_names": list(self.names),
        }

    @staticmethod
    def from_segmentation_data(data: dict) -> ClassSet:
        n = int(data["num_semantic_classes"])
        names = data.get("class_names")
        if names is None or len(names) != n:
            names = (
                SCANNET21.names
                if n == SCANNET21.num_classes
                else ("void",) + tuple(f"class_{i}" for i in range(1, n))
            )
        return ClassSet(
            names=tuple(str(x) for x in names), thing_ids=tuple(int(k) for k in data["fg_classes"])
        )


SCANNET21 = ClassSet(
    names=(
        "void",
        "wall",
        "floor",
        "cabinet",
        "bed",
        "chair",
        "sofa",
        "table",
        "door",
        "window",
        "counter",
        "shelves",
        "curtain",
        "ceiling",
        "refrigerator",
        "television",
        "person",
        "toilet",
        "sink",
        "lamp",
        "bag",
        "otherprop",
    ),
    thing_ids=(4, 5, 6, 14, 15, 16, 17, 18, 20),
)
"""The reduced ScanNet class set used by the paper (0 void + 21 classes)."""
