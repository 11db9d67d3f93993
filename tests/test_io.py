"""Tests for :mod:`helpers.io`: one writer convention, atomic writes, checksums, literal text in figures."""

from __future__ import annotations

import json
import math

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402

from helpers import io as hio  # noqa: E402
from helpers.data import cleaning  # noqa: E402
from helpers.steps import growth_tables  # noqa: E402


def test_write_csv_is_deterministic_and_uses_plain_line_ends(tmp_path):
    df = pd.DataFrame({"a": [1 / 3, 2.0, math.nan], "b": ["x", "ü", "z,w"]})
    p1 = hio.write_csv(df, tmp_path / "sub" / "a.csv")
    p2 = hio.write_csv(df.copy(), tmp_path / "b.csv")
    assert p1.read_bytes() == p2.read_bytes()
    assert p1.read_bytes() == 'a,b\n0.3333333333,x\n2,ü\n,"z,w"\n'.encode()
    assert hio.write_csv(df, tmp_path / "c.csv", float_format="%.3g").read_text().splitlines()[1] == "0.333,x"


def test_old_writers_delegate_and_keep_their_conventions(tmp_path):
    df = pd.DataFrame({"v": [1 / 3]})
    assert cleaning.write_csv(df, tmp_path / "c.csv").read_text() == "v\n0.3333333333\n"
    assert hio.write_csv(df, tmp_path / "p.csv").read_text() == "v\n0.3333333333\n"  # step 03
    assert (
        hio.write_csv(df, tmp_path / "g.csv", float_format=growth_tables.FLOAT_FORMAT).read_text()
        == f"v\n{growth_tables.FLOAT_FORMAT % (1 / 3)}\n"
    )
    s = hio.write_json({"b": 1 / 3, "a": math.nan}, tmp_path / "p.json", digits=4, sort_keys=True).read_text()
    assert json.loads(s) == {"a": None, "b": 0.3333} and s.index('"a"') < s.index('"b"')
    g = hio.write_json({"b": 1, "a": 2}, tmp_path / "g.json").read_text()
    assert g.index('"b"') < g.index('"a"') and g.endswith("}\n")
    with pytest.raises(ValueError):
        hio.write_json({"x": math.nan}, tmp_path / "nan.json")


def test_failed_write_leaves_previous_file_and_no_temporary(tmp_path):
    target = tmp_path / "keep.csv"
    target.write_text("old\n")

    class Boom:
        def to_csv(self, *a, **k):
            with open(a[0], "w") as fh:
                fh.write("half")
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        hio.write_csv(Boom(), target)  # type: ignore[arg-type]
    assert target.read_text() == "old\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["keep.csv"]


def test_savefig_is_byte_stable(tmp_path):
    def draw():
        fig, ax = plt.subplots()
        ax.plot([0, 1], [0, 1])
        return fig

    a, b = hio.savefig(draw(), tmp_path / "a.png"), hio.savefig(draw(), tmp_path / "b.png")
    plt.close("all")
    assert a.read_bytes() == b.read_bytes() and a.read_bytes()[:4] == b"\x89PNG"


def _sums(tmp_path, content: bytes):
    (tmp_path / "external").mkdir()
    f = tmp_path / "external" / "x.csv"
    f.write_bytes(content)
    (tmp_path / "SHA256SUMS").write_text(f"{hio.sha256_file(f)}  external/x.csv\n")
    return f, tmp_path / "SHA256SUMS"


def test_verify_sha256_accepts_the_recorded_file_and_names_a_changed_one(tmp_path):
    f, sums = _sums(tmp_path, b"a,b\n1,2\n")
    assert hio.verify_sha256(f, sums) is True
    assert hio.verify_sha256(tmp_path / "SHA256SUMS", sums) is False  # not listed: nothing to check
    f.write_bytes(b"<!DOCTYPE html><html><body>503 Service Unavailable</body></html>")
    with pytest.raises(hio.ChecksumError) as err:
        hio.verify_sha256(f, sums)
    msg = str(err.value)
    assert "x.csv" in msg and "HTML page" in msg and "expected" in msg and "git checkout" in msg
    assert hio.sha256_file(f) in msg


def test_read_sha256sums_names_a_bad_line(tmp_path):
    p = tmp_path / "SHA256SUMS"
    p.write_text("abc  x.csv\n")
    with pytest.raises(ValueError, match=":1: expected"):
        hio.read_sha256sums(p)


def test_mathtext_escape_makes_dollars_literal(tmp_path):
    label = r"price $\frac{1}{0 and $5"
    fig, ax = plt.subplots()
    fig.text(0.1, 0.5, hio.mathtext_escape(label))
    hio.savefig(fig, tmp_path / "t.png")  # unescaped, this raises a mathtext ParseException
    plt.close(fig)
    fig, ax = plt.subplots()
    fig.text(0.1, 0.5, label)
    with pytest.raises(ValueError):
        fig.savefig(tmp_path / "u.png")
    plt.close(fig)


def test_event_labels_with_dollars_are_drawn_literally(tmp_path):
    """A ``$...$`` in events.csv must not be typeset (or crash matplotlib) in the timeline figure."""
    from helpers.data import events

    ev = pd.DataFrame(
        {
            "event_id": ["E1", "E2"],
            "date": ["2009", "2012-05"],
            "date_end": [math.nan, math.nan],
            "event": [r"Price cut to $5 a month", r"Broken TeX $\frac{1}{0"],
        }
    )
    ev = events.event_spans(ev)
    itu = pd.DataFrame({"year": [2009, 2010, 2011, 2012], "subscriptions": [7e4, 4e5, 1e6, 1.7e6]})
    fig = events.plot_timeline(ev, itu)
    hio.savefig(fig, tmp_path / "timeline.png")
    texts = [t.get_text() for t in fig.texts]
    plt.close(fig)
    assert any(r"Price cut to \$5 a month" in t for t in texts)
