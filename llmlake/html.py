"""The one place HTML reports are rendered: Jinja templates, autoescaped, shipped in the wheel.

A stage keeps its templates in a ``templates/`` folder inside its own Python package and
calls ``render(package, template, **context)``. Templates are read through
``importlib.resources``, so they load the same from a source checkout, an installed wheel
and the zip that ``spark-submit --py-files`` puts on ``sys.path``. A name that the package
lacks falls back to ``llmlake/templates``, which holds ``base.html.j2``: the page frame and
stylesheet every report shares. A page extends it and fills the blocks ``title`` and
``content`` (and ``style`` for a few rules of its own).

Every template is autoescaped whatever its file name, because the values are crawled web
text: a document that quotes ``<script>`` must show it, not run it. A value the template
names but the caller did not pass raises instead of rendering blank.

Example::

    >>> page = render("llmlake", "base.html.j2")
    >>> "<title>llmlake report</title>" in page
    True
    >>> env = environment("llmlake")
    >>> env.from_string("<p>{{ text }}</p>").render(text="<script>alert(1)</script>")
    '<p>&lt;script&gt;alert(1)&lt;/script&gt;</p>'
    >>> dig({"a": {"b": 3}}, "a", "b"), dig({"a": 1}, "a", "b")
    (3, None)
    >>> env.from_string("{{ missing }}").render()
    Traceback (most recent call last):
    ...
    jinja2.exceptions.UndefinedError: 'missing' is undefined
    >>> import tempfile, pathlib
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     write_html(pathlib.Path(tmp) / "r" / "page.html", page).read_text() == page
    True
"""

from __future__ import annotations

import os
from collections.abc import Callable
from functools import cache
from importlib.resources import files
from pathlib import Path
from typing import Any

import jinja2
from jinja2.loaders import split_template_path

from llmlake.lake import write_atomic

SHARED = "llmlake"


class ResourceLoader(jinja2.BaseLoader):
    """Templates from ``<package>/templates`` read through ``importlib.resources``.

    ``FileSystemLoader`` over ``__file__`` would fail once the package sits in a zip
    (``--py-files``); a resource ``Traversable`` reads from a folder and a zip alike.
    """

    def __init__(self, package: str) -> None:
        self.package = package

    def get_source(self, environment: jinja2.Environment,
                   template: str) -> tuple[str, str | None, Callable[[], bool] | None]:
        # split_template_path refuses ".." so a name cannot climb out of templates/.
        path = files(self.package) / "templates"
        for part in split_template_path(template):
            path = path / part
        if not path.is_file():
            raise jinja2.TemplateNotFound(template)
        # Shipped templates do not change under a running process: never reload.
        return path.read_text(encoding="utf-8"), str(path), None


@cache
def environment(package: str) -> jinja2.Environment:
    """The Jinja environment for ``package``'s templates, with the shared ones behind them."""
    loaders = [ResourceLoader(package)]
    if package != SHARED:
        loaders.append(ResourceLoader(SHARED))
    env = jinja2.Environment(
        loader=jinja2.ChoiceLoader(loaders),
        # True rather than select_autoescape(): a template named *.j2 or *.txt gets
        # crawled text too, and must not be the one that forgets to escape it.
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["thousands"] = thousands
    return env


def render(package: str, template: str, **context: Any) -> str:
    """Render ``templates/<template>`` of ``package`` with ``context``."""
    return environment(package).get_template(template).render(**context)


def thousands(n: int | float) -> str:
    """``12,345`` for counts that people read."""
    return f"{n:,}"


def dig(data: Any, *keys: str) -> Any:
    """``data[k1][k2]...`` of a report's JSON, None where a level is missing or not a
    mapping: pages show what a report holds, and a report of another shape is no crash."""
    for key in keys:
        if not isinstance(data, dict):
            return None
        data = data.get(key)
    return data


def write_html(path: str | os.PathLike[str], html: str) -> Path:
    """Write ``html`` atomically, so a killed stage never leaves half a page."""
    return write_atomic(Path(path), lambda fh: fh.write(html))
