"""Wikipedia dumps to a plain-text corpus: download, read, clean (``scripts/get_corpus.py``).

* ``minirnn.wiki.download``: the dated dump from a mirror (``latest`` resolved first), resumable, checked
  against the published sha1.
* ``minirnn.wiki.dump``: the dump on disk: its encoding, siteinfo, and the jobs that workers read
  (bz2 streams, byte ranges, or pieces from one reader).
* ``minirnn.wiki.markup``: wikitext to prose, a fixed list of named passes (docs/wikipedia.md).
* ``minirnn.wiki.extract``: the worker processes and the corpus, written in dump order.
"""
from .dump import Dump, open_dump
from .extract import Stats, extract
from .markup import Site, residue, to_prose

__all__ = ["Dump", "open_dump", "Stats", "extract", "Site", "residue", "to_prose"]
