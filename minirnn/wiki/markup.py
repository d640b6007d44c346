"""Wikitext to prose: a short list of named passes applied in a fixed order, then the layout.

    site = Site.from_namespaces({6: "Archivo", 14: "Categoría"})
    to_prose("'''Madrid''' es la [[capital (política)|capital]] de [[España]].<ref>INE</ref>", site)
    # -> ['Madrid es la capital de España.']

Each pass is a function ``(text, site) -> text``, and ``PASSES`` lists them in the order they run.
The order matters: comments first (they may hide any markup), then whole elements whose content is
not prose (refs, math, galleries, HTML tables), then templates and wiki tables (nested, so they are
matched with a depth counter, not a regular expression), then links (a link keeps its text; files,
categories and interlanguage links go), then the marks inside prose (tags, bold and italic), and the
entities last, so that a decoded ``&lt;`` can never open a tag. ``layout`` then turns the lines
into paragraphs: headings, lists, indents, table leftovers, and the sections that are not prose
(references, bibliography, external links). docs/wikipedia.md gives each rule with an example and
its reason; tests/test_wiki_markup.py has a test beside each regular expression.

Namespace names come from the dump's ``<siteinfo>`` (``Site``): "Archivo:" and "Categoría:" in the
Spanish dump, with the English canonical names ("File:", "Image:", "Category:", "Media:") always
recognized too, and a link to a media file (``Imagen:Foo.jpg``) recognized by its extension, so an
alias that siteinfo does not list is still removed.
"""
from __future__ import annotations

import html
import re
from dataclasses import dataclass

# ---- the site: which link prefixes name files and categories -----------------------------------------
CANONICAL_DROPPED = ("file", "image", "category", "media")      # always recognized, in any wiki
DROPPED_NAMESPACES = (-2, 6, 14)                                 # Media, File, Category
MEDIA_EXTENSIONS = ("jpg", "jpeg", "png", "gif", "svg", "tif", "tiff", "webp", "xcf", "bmp", "ogg", "oga",
                    "ogv", "webm", "mp3", "mp4", "wav", "flac", "mid", "midi", "pdf", "djvu", "stl")
# an interlanguage link: [[fr:Paris]], [[zh-min-nan:...]], [[simple:...]]; the shape of a language
# code rather than a list, so that a language added to Wikipedia later is still recognized
LANGUAGE_CODE = re.compile(r"(?:[a-z]{2,3}(?:-[a-z0-9]{1,8}){0,2}|simple)\Z")


@dataclass(frozen=True)
class Site:
    """What the passes need to know about a wiki: the casefolded prefixes of links to drop (files,
    categories) and the names of every namespace (a prefix that is a namespace is never taken for a
    language code)."""
    dropped: frozenset = frozenset(CANONICAL_DROPPED)
    namespaces: frozenset = frozenset()

    @classmethod
    def from_namespaces(cls, names: dict) -> "Site":
        """`names`: {namespace key: local name}, as in the dump's siteinfo."""
        dropped = {n.casefold() for k, n in names.items() if k in DROPPED_NAMESPACES and n}
        return cls(frozenset(dropped | set(CANONICAL_DROPPED)),
                   frozenset(n.casefold() for n in names.values() if n))


# ---- pass 1: comments ----------------------------------------------------------------------------------
# an unclosed comment hides the rest of the page, as it does on the site
COMMENT = re.compile(r"<!--.*?(?:-->|\Z)", re.S)


def comments(text: str, site: Site) -> str:
    """<!-- a note to editors --> goes."""
    return COMMENT.sub("", text) if "<!--" in text else text


# ---- pass 2: elements whose content is not prose --------------------------------------------------------
DROPPED_ELEMENTS = ("ref", "references", "gallery", "math", "chem", "ce", "score", "timeline", "imagemap",
                    "graph", "mapframe", "maplink", "syntaxhighlight", "source", "pre", "hiero", "inputbox",
                    "categorytree", "templatedata", "templatestyles", "noinclude", "includeonly", "table")
# <name ...>...</name> or <name .../>; names end at a word boundary, so <ref> never matches <references>.
# The content is matched as runs of [^<] between '<'s that do not close it (faster than a lazy .*?)
ELEMENT = re.compile(r"<(%s)\b[^<>]*?(?:/>|>[^<]*(?:<(?!/\1\s*>)[^<]*)*</\1\s*>)" % "|".join(DROPPED_ELEMENTS),
                     re.I)


def elements(text: str, site: Site) -> str:
    """<ref>Smith 2001</ref>, <math>x^2</math>, <gallery>...</gallery> go with their content."""
    return ELEMENT.sub("", text) if "<" in text else text


# ---- passes 3 and 4: templates and tables, nested -------------------------------------------------------
def drop_nested(text: str, tokens: re.Pattern, opener: str, unclosed_to_end: bool) -> str:
    """Remove every balanced span from an `opener` token to its matching close (any depth).

    `tokens` matches both the opening and the closing token. A close with nothing open is removed
    alone. An open never closed: with `unclosed_to_end` everything from it to the end goes (a wiki
    table is closed by the end of the page); otherwise only the token goes and the scan resumes
    after it (the site shows an unclosed ``{{`` as it is)."""
    out, keep_from, depth, start = [], 0, 0, 0
    pos = 0
    while True:
        for m in tokens.finditer(text, pos):
            if m.group().lstrip(" \t:") == opener:
                if depth == 0:
                    out.append(text[keep_from:m.start()])
                    start = m.start()
                depth += 1
            elif depth:
                depth -= 1
                if depth == 0:
                    keep_from = m.end()
            else:                                       # a close with nothing open
                out.append(text[keep_from:m.start()])
                keep_from = m.end()
        if depth == 0:
            out.append(text[keep_from:])
            return "".join(out)
        if unclosed_to_end:
            return "".join(out)
        # drop only the unclosed opener's token and scan again from after it
        m = tokens.match(text, start)
        keep_from = pos = m.end()
        depth = 0


TEMPLATE_TOKEN = re.compile(r"\{\{|\}\}")
# an innermost template, holding no brace: removing these again and again removes nested templates from
# the inside out, in the regular expression engine; what it cannot (a lone brace inside, an unclosed
# {{) is left to drop_nested
INNERMOST_TEMPLATE = re.compile(r"\{\{[^{}]*\}\}")
# a wiki table opens with {| and closes with |}, each at the start of a line ({| may be indented with :)
TABLE_TOKEN = re.compile(r"^[ \t:]*\{\||^[ \t]*\|\}", re.M)
# a template's parameter, {{{nombre}}} or {{{1|default}}}: only template pages hold them, but a page that
# copied a template's code does too, and its three braces would leave one behind
PARAMETER = re.compile(r"\{\{\{[^{}]*\}\}\}")
# templates that stand for a character of prose: {{'}} is the apostrophe of French "l{{'}}''Art''". It
# becomes a placeholder until the entities pass, so that the emphasis pass never reads it as a quote
CHARACTER_TEMPLATES = re.compile(r"\{\{\s*['’]\s*\}\}")
APOSTROPHE = "\ue000"


def templates(text: str, site: Site) -> str:
    """{{Ficha de persona|nombre=...}}, {{cita|...{{fecha|...}}...}} and {{#if:...}} go, nested or not."""
    if "{{" not in text and "}}" not in text:
        return text
    if "{{{" in text:
        text = PARAMETER.sub("", text)
    text = CHARACTER_TEMPLATES.sub(APOSTROPHE, text)
    for _ in range(12):
        text, n = INNERMOST_TEMPLATE.subn("", text)
        if n == 0 or "{{" not in text:
            break
    if "{{" in text or "}}" in text:
        text = drop_nested(text, TEMPLATE_TOKEN, "{{", unclosed_to_end=False)
    return text


def tables(text: str, site: Site) -> str:
    """{| class="wikitable" ... |} goes, nested tables included."""
    return drop_nested(text, TABLE_TOKEN, "{|", unclosed_to_end=True) if "{|" in text else text


# ---- passes 5 and 6: links ------------------------------------------------------------------------------
# [http://example.org label] -> label; [http://example.org] -> nothing; a bare URL -> nothing
EXTERNAL_LINK = re.compile(r"\[(?:(?:(?:https?|ftps?|ircs?):)?//|(?:mailto|news):)[^\s\[\]]+(?:[ \t]+([^\[\]\n]*))?\]",
                           re.I)
BARE_URL = re.compile(r"(?<![\w/])(?:https?|ftp)://[^\s<>\[\]{}|\"]+")


def external_links(text: str, site: Site) -> str:
    """[https://www.ine.es el INE] -> el INE; a bare https://... goes."""
    if "//" not in text:
        return text
    if "[" in text:
        text = EXTERNAL_LINK.sub(lambda m: m.group(1) or "", text)
    return BARE_URL.sub("", text) if "://" in text else text


# an innermost internal link: [[target]] or [[target|label]], neither holding [[ or ]]
INTERNAL_LINK = re.compile(r"\[\[([^\[\]|\n]*)(?:\|([^\[\]]*(?:(?:\[(?!\[)|\](?!\]))[^\[\]]*)*))?\]\]")
# the common cases, a target without ':' or '#': [[España]] and [[Madrid|la capital]] (a label not empty)
PLAIN_LINK = re.compile(r"\[\[([^\[\]|:#\n]+)\]\]")
PLAIN_LABELLED_LINK = re.compile(r"\[\[[^\[\]|:#\n]+\|([^\[\]|]*[^\[\]|\s][^\[\]|]*)\]\]")
PARENTHESIS = re.compile(r"\s*\([^()]*\)\s*$")


def keep_group(pattern: re.Pattern, text: str) -> str:
    """pattern.sub(r"\1", text) for a pattern with one group, without a Python call per match: split
    returns the text between the matches and each match's group, in order."""
    return "".join(pattern.split(text))


def _link(m: re.Match, site: Site) -> str:
    target, label = m.group(1).strip(), m.group(2)
    visible = target.startswith(":")                # [[:Categoría:X]] is a link shown as text
    target = target.lstrip(":").strip()
    prefix, colon, rest = target.partition(":")
    if colon and not visible:
        p = prefix.strip().casefold()
        if p in site.dropped:                       # [[Archivo:x.jpg|miniatura|...]], [[Categoría:X]]
            return ""
        if label is None and p not in site.namespaces and LANGUAGE_CODE.match(prefix.strip()):
            return ""                               # [[en:Madrid]], an interlanguage link
        if rest.rsplit(".", 1)[-1].strip().casefold() in MEDIA_EXTENSIONS:
            return ""                               # [[Imagen:x.png|...]]: a file under an alias
    if label is None:
        return target.split("#")[0] if not target.startswith("#") else target[1:]
    label = label.strip()
    if label:
        return label.rsplit("|", 1)[-1] if "|" in label else label
    # the pipe trick: [[Madrid (España)|]] shows "Madrid"
    name = rest if colon and prefix.strip().casefold() in site.namespaces else target
    return PARENTHESIS.sub("", name)


def links(text: str, site: Site) -> str:
    """[[España]] -> España, [[Madrid|la capital]] -> la capital; files, categories and
    interlanguage links go. Innermost links first, so a file's caption holding links goes whole."""
    if "[[" not in text:
        return text
    # most links name an article: rewritten by the regular expression engine alone, no Python call
    text = keep_group(PLAIN_LINK, keep_group(PLAIN_LABELLED_LINK, text))
    replace = lambda m: _link(m, site)              # noqa: E731
    for _ in range(8):                              # one round per level of nesting
        text, n = INTERNAL_LINK.subn(replace, text)
        if n == 0 or "[[" not in text:
            break
    return text


# ---- passes 7 to 10: marks inside prose ------------------------------------------------------------------
MAGIC_WORD = re.compile(r"__[A-Z]+__")
# a tag left after pass 2: block tags become a space (two words never glue), inline tags go
TAG = re.compile(r"<(/?)([a-zA-Z][\w:-]*)\b[^<>]*?/?>")
BLOCK_TAGS = frozenset(("br", "p", "div", "blockquote", "li", "ul", "ol", "dl", "dd", "dt", "tr", "td", "th",
                        "hr", "center", "poem", "caption"))
EMPHASIS = re.compile(r"''+")
ENTITY = re.compile(r"&(?:[a-zA-Z][a-zA-Z0-9]*|#[0-9]+|#[xX][0-9a-fA-F]+);")
# no-break, thin and other spaces become a space; soft hyphens and zero-width characters go
ODD_CHARACTERS = {**dict.fromkeys("\u00a0\u2002\u2003\u2009\u200a\u202f\u3000", " "),
                  **dict.fromkeys("\u00ad\u200b\ufeff", "")}


def magic_words(text: str, site: Site) -> str:
    """__NOTOC__ and __TOC__ go."""
    return MAGIC_WORD.sub("", text) if "__" in text else text


def tags(text: str, site: Site) -> str:
    """<small>text</small> -> text, a<br/>b -> a b."""
    if "<" not in text:
        return text
    return TAG.sub(lambda m: " " if m.group(2).lower() in BLOCK_TAGS else "", text)


def emphasis(text: str, site: Site) -> str:
    """''cursiva'' and '''negrita''' lose their marks; l''''Art''' -> l'Art."""
    if "''" not in text:
        return text
    if "''''" in text:                            # a run of 4 or more: see _quotes
        return EMPHASIS.sub(_quotes, text)
    return EMPHASIS.sub("", text)                 # runs of 2 and 3 only: marks, gone


def _quotes(m: re.Match) -> str:
    """A run of quotes as MediaWiki reads it: 2 italic, 3 bold, 5 both (all marks, gone); 4 is an
    apostrophe then bold; beyond 5 the extra quotes are apostrophes."""
    n = len(m.group())
    return "'" if n == 4 else "'" * (n - 5) if n > 5 else ""


def entities(text: str, site: Site) -> str:
    """&amp; -> &, &nbsp; -> a space, &#233; -> é (twice when a page escaped one: &amp;nbsp;)."""
    if "&" in text:
        text = html.unescape(text)
        if ENTITY.search(text):
            text = html.unescape(text)
    if APOSTROPHE in text:
        text = text.replace(APOSTROPHE, "'")
    if not text.isascii():                       # (str.replace finds a character faster than re)
        for odd, replacement in ODD_CHARACTERS.items():
            if odd in text:
                text = text.replace(odd, replacement)
    return text


PASSES = (("comments", comments), ("elements", elements), ("templates", templates), ("tables", tables),
          ("links", links), ("external_links", external_links), ("magic_words", magic_words), ("tags", tags),
          ("emphasis", emphasis), ("entities", entities))


# ---- the layout: lines into paragraphs --------------------------------------------------------------------
HEADING = re.compile(r"(={1,6})(.+?)(=+)\s*$")
LETTER = re.compile(r"[^\W\d_]")
# sections that hold no prose, compared casefolded (most end empty anyway: their lists and templates go)
DROPPED_SECTIONS = frozenset(s.casefold() for s in (
    # English
    "references", "notes", "footnotes", "notes and references", "references and notes", "citations",
    "sources", "bibliography", "further reading", "external links", "see also", "works cited",
    # Spanish
    "referencias", "notas", "notas y referencias", "referencias y notas", "fuentes", "bibliografía",
    "bibliografía adicional", "lecturas adicionales", "enlaces externos", "véase también", "vease tambien",
    # French, German, Italian, Portuguese
    "références", "notes et références", "bibliographie", "liens externes", "voir aussi", "articles connexes",
    "einzelnachweise", "anmerkungen", "literatur", "weblinks", "siehe auch", "quellen",
    "note", "bibliografia", "collegamenti esterni", "voci correlate", "altri progetti",
    "referências", "ligações externas", "ver também", "notas e referências",
    # Bulgarian, Russian, Japanese
    "източници", "бележки", "литература", "външни препратки", "вижте също",
    "примечания", "ссылки", "см. также",
    "脚注", "出典", "参考文献", "外部リンク", "関連項目"))
EMPTY_BRACKETS = re.compile(r"\(\s*[,;:]*\s*\)|\[\s*\]")
# what a removed ref or template leaves: "a , b" -> "a, b", "( a )" -> "(a)" (before ; : ! ? a space
# stays: French sets one there)
LOOSE = ((" ,", ","), (" .", "."), (" )", ")"), ("( ", "("), (" ]", "]"), ("[ ", "["))


def tidy(line: str) -> str:
    """One paragraph: runs of spaces to one, no space before , . ) or after (, and the empty
    brackets that a removed template or ref leaves, "( )", gone."""
    line = " ".join(line.split()) if "  " in line or "\t" in line else line.strip()
    if "(" in line or "[" in line:
        line = EMPTY_BRACKETS.sub("", line)
        if "  " in line:
            line = " ".join(line.split())
    for loose, tight in LOOSE:
        if loose in line:
            line = line.replace(loose, tight)
    return line


def layout(text: str) -> list:
    """The page's paragraphs, in order, each on one line.

    A paragraph is a run of prose lines (ended by a blank line, a heading, a list or a table line).
    A heading is kept, on its own line, only if prose follows it in its section; a section named in
    DROPPED_SECTIONS goes with its subsections. List items (* # ;) and table leftovers (| ! {| |})
    go, as wikiextractor's defaults drop them; an indented line (:) is a paragraph of its own; a
    line without a letter goes."""
    out, para, pending = [], [], {}               # pending: {level: heading} not yet followed by prose
    skip_below = 0                                # inside a dropped section of this level (0: none)

    def end_paragraph():                          # every line in `para` holds a letter
        if pending:
            out.extend(pending[k] for k in sorted(pending))
            pending.clear()
        out.append(tidy(" ".join(para)))
        para.clear()

    has_letter = LETTER.search
    for line in text.split("\n"):
        s = line.strip()
        if not s:
            if para:
                end_paragraph()
            continue
        first = s[0]
        if first == "=":
            m = HEADING.match(s)
            if m:
                if para:
                    end_paragraph()
                level = min(len(m.group(1)), len(m.group(3)))
                title = tidy(m.group(2).strip(" ="))
                if skip_below and level > skip_below:
                    continue
                skip_below = level if title.casefold().rstrip(":") in DROPPED_SECTIONS else 0
                pending = {k: v for k, v in pending.items() if k < level}
                if not skip_below and has_letter(title):
                    pending[level] = title
                continue
        if skip_below:
            continue
        if first in "*#;|!" or s.startswith("{|") or not has_letter(s):
            if para:                                  # a list item, a table line, a rule (----)
                end_paragraph()
            continue
        if first == ":":                              # an indented line: a paragraph of its own
            if para:
                end_paragraph()
            para.append(s.lstrip(":"))
            end_paragraph()
            continue
        para.append(s)
    if para:
        end_paragraph()
    return out


def to_prose(text: str, site: Site = Site()) -> list:
    """The paragraphs of a page's wikitext: every pass of PASSES in order, then ``layout``."""
    for _, run in PASSES:
        text = run(text, site)
    return layout(text)


# ---- redirects and residue ---------------------------------------------------------------------------------
# "#REDIRECT [[X]]", "#REDIRECCIÓN [[X]]", "#WEITERLEITUNG [[X]]", "#перенаправление [[X]]": a page whose
# text opens with '#', one word and a link, in any case
REDIRECT = re.compile(r"\s*#([^\W\d_][^\W\d]{0,30})\s*:?\s*\[\[")
REDIRECT_WORDS = frozenset(w.casefold() for w in (
    "redirect", "redirección", "redireccion", "redirection", "weiterleitung", "rinvia", "rinvio",
    "redirecionamento", "doorverwijzing", "przekieruj", "перенаправление", "перенапр", "пренасочване",
    "転送", "リダイレクト", "重定向", "넘겨주기"))


def is_redirect(text: str) -> bool:
    """True for a redirect's text: the magic word in any of REDIRECT_WORDS, or any other single word
    of that shape on a short page (a numbered list that opens a long article is not taken for one).
    Dumps mark redirects with a <redirect> element as well, which the reader checks first."""
    m = REDIRECT.match(text)
    return m is not None and (m.group(1).casefold() in REDIRECT_WORDS or len(text) < 500)


# what the issue counts as markup left in the text (per million words): braces, brackets, table marks,
# refs, entities, file options, quote marks, heading marks and template parameters
RESIDUE = re.compile(r"\{\{|\}\}|\[\[|\]\]|\{\||\|\}|<ref|" + ENTITY.pattern + r"|thumb\||''|==|\|\s*\w[\w ]*=",
                     re.I)


def residue(text: str) -> dict:
    """{mark: count} of the markup left in `text` (RESIDUE)."""
    counts = {}
    for m in RESIDUE.finditer(text):
        key = m.group()
        key = "&entity;" if key.startswith("&") else "| key =" if key.startswith("|") and "=" in key else key.lower()
        counts[key] = counts.get(key, 0) + 1
    return counts
