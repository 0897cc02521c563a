"""Hatch metadata hook of the instructor distribution (pyproject.toml): its dependencies are
the student distribution's (packaging/autograder/pyproject.toml, the one list of what the
`autograder` toolkit needs) followed by the instructor's own
(``[tool.hatch.metadata.hooks.custom] instructor-dependencies``), so no requirement is
written twice."""

import tomllib
from pathlib import Path

from hatchling.metadata.plugin.interface import MetadataHookInterface

STUDENT = Path("packaging", "autograder", "pyproject.toml")


class InstructorDependencies(MetadataHookInterface):
    def update(self, metadata):
        student = tomllib.loads((Path(self.root) / STUDENT).read_text())["project"]
        metadata["dependencies"] = [
            *student["dependencies"],
            *self.config["instructor-dependencies"],
        ]
