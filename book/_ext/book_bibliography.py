"""The References page lists its sources by author and year, as the text cites them.

The chapters cite in author-year form ({cite:t} gives "Glorot and Bengio [2010]").
pybtex's stock label styles number the entries or abbreviate them ("GB10"),
which a reader cannot match to the text at a glance. This label style writes
"Glorot & Bengio 2010", "LeCun et al. 1998a": the surnames (up to two, else
the first and "et al.") and the year, with a letter when the same authors and
year occur twice. The entries are sorted by author, year and title (pybtex's
"plain" sorting).

In the text, citations use round brackets, "(Glorot and Bengio, 2010)", as
in the books the chapters cite, instead of sphinxcontrib-bibtex's square ones.

``register()`` makes both available to sphinxcontrib-bibtex: the label style as
``authoryear`` (``bibtex_default_style`` in _config.yml), the round brackets
as ``author_year_round`` (``bibtex_reference_style``).
"""

from collections import Counter
from dataclasses import dataclass, field
from string import ascii_lowercase

import pybtex.plugin
import sphinxcontrib.bibtex.plugin
from pybtex.style.formatting.plain import Style as PlainStyle
from pybtex.style.labels import BaseLabelStyle
from sphinxcontrib.bibtex.style.referencing import BracketStyle
from sphinxcontrib.bibtex.style.referencing.author_year import AuthorYearReferenceStyle

NAME = "authoryear"
REFERENCE_STYLE = "author_year_round"


def _surnames(entry) -> str:
    people = entry.persons.get("author") or entry.persons.get("editor") or []
    names = [" ".join(person.prelast_names + person.last_names) for person in people]
    names = [name.replace("{", "").replace("}", "") for name in names]
    if not names:
        return entry.fields.get("key", entry.key)
    if len(names) == 1:
        return names[0]
    if len(names) == 2:
        return f"{names[0]} & {names[1]}"
    return f"{names[0]} et al."


class AuthorYearLabels(BaseLabelStyle):
    def format_labels(self, sorted_entries):
        entries = list(sorted_entries)
        bases = [f"{_surnames(e)} {e.fields.get('year', 'n.d.')}" for e in entries]
        repeated = Counter(bases)
        seen: Counter = Counter()
        for base in bases:
            if repeated[base] == 1:
                yield base
            else:
                yield base + ascii_lowercase[seen[base]]
                seen[base] += 1


class AuthorYearStyle(PlainStyle):
    default_label_style = AuthorYearLabels


def _round() -> BracketStyle:
    return BracketStyle(left="(", right=")")


@dataclass
class RoundAuthorYearReferences(AuthorYearReferenceStyle):
    bracket_parenthetical: BracketStyle = field(default_factory=_round)
    bracket_textual: BracketStyle = field(default_factory=_round)
    bracket_author: BracketStyle = field(default_factory=_round)
    bracket_label: BracketStyle = field(default_factory=_round)
    bracket_year: BracketStyle = field(default_factory=_round)


def register():
    pybtex.plugin.register_plugin("pybtex.style.formatting", NAME, AuthorYearStyle, force=True)
    sphinxcontrib.bibtex.plugin.register_plugin(
        "sphinxcontrib.bibtex.style.referencing",
        REFERENCE_STYLE,
        RoundAuthorYearReferences,
        force=True,
    )
