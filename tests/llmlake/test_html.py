"""llmlake.html: templates load from a package (folder or zip), escape everything, miss loudly."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
import uuid
import zipfile
from pathlib import Path

import jinja2
import pytest

from llmlake.html import render, write_html

HOSTILE = '<script>alert(1)</script>"onload='


@pytest.fixture
def package(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """A fresh package on sys.path with templates ``note.txt`` and ``page.j2``.

    A new name each time: environments are cached per package name.
    """
    name = f"tpl_{uuid.uuid4().hex[:8]}"
    templates = tmp_path / name / "templates"
    templates.mkdir(parents=True)
    (tmp_path / name / "__init__.py").write_text("")
    (templates / "note.txt").write_text("<p>{{ text }}</p>")
    (templates / "page.j2").write_text(
        '{% extends "base.html.j2" %}{% block title %}T {{ text }}{% endblock %}'
        "{% block content %}<pre>{{ text }}</pre>{% endblock %}")
    monkeypatch.syspath_prepend(str(tmp_path))
    return name


def test_autoescape_is_on_for_any_file_name(package: str) -> None:
    out = render(package, "note.txt", text=HOSTILE)
    assert out == "<p>&lt;script&gt;alert(1)&lt;/script&gt;&#34;onload=</p>"


def test_page_extends_the_shared_base(package: str) -> None:
    out = render(package, "page.j2", text=HOSTILE)
    assert out.startswith("<!doctype html>")
    assert "<title>T &lt;script&gt;" in out
    assert "<h1>T &lt;script&gt;" in out
    assert "<pre>&lt;script&gt;alert(1)&lt;/script&gt;&#34;onload=</pre>" in out
    assert "<script" not in out


def test_missing_value_raises(package: str) -> None:
    with pytest.raises(jinja2.UndefinedError, match="'text' is undefined"):
        render(package, "note.txt")


def test_missing_template_and_escape_attempt_raise(package: str) -> None:
    with pytest.raises(jinja2.TemplateNotFound):
        render(package, "absent.html.j2")
    with pytest.raises(jinja2.TemplateNotFound):
        render(package, "../__init__.py")


def test_templates_load_from_a_zip_on_sys_path(tmp_path: Path) -> None:
    """As under ``spark-submit --py-files``: the package is only inside a zip."""
    archive = tmp_path / "deps.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("zipped_pkg/__init__.py", "")
        zf.writestr("zipped_pkg/templates/page.html.j2",
                    '{% extends "base.html.j2" %}{% block content %}{{ text }}{% endblock %}')
    code = (
        "import sys; sys.path.insert(0, sys.argv[1])\n"
        "import zipped_pkg\n"
        "from llmlake.html import render\n"
        "assert '.zip' in zipped_pkg.__file__, zipped_pkg.__file__\n"
        "print(render('zipped_pkg', 'page.html.j2', text='<b>zipped</b>'))\n"
    )
    root = Path(__file__).resolve().parents[2]
    done = subprocess.run([sys.executable, "-c", code, str(archive)], cwd=root,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert "&lt;b&gt;zipped&lt;/b&gt;" in done.stdout
    assert "<title>llmlake report</title>" in done.stdout


def test_write_html_replaces_atomically_and_is_readable(tmp_path: Path) -> None:
    path = tmp_path / "reports" / "page.html"
    write_html(path, "<p>old</p>")
    assert write_html(path, "<p>new – ü</p>") == path
    assert path.read_text(encoding="utf-8") == "<p>new – ü</p>"
    assert os.listdir(path.parent) == ["page.html"]  # no temp file left behind
    umask = os.umask(0)
    os.umask(umask)
    assert stat.S_IMODE(path.stat().st_mode) == 0o666 & ~umask
