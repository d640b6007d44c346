"""What the Wikipedia tests share: hand-written Spanish pages, dumps built from them in every form
(plain XML, one bz2 stream, the official multistream with its index, UTF-16), and a local HTTP server on
127.0.0.1 that serves them in the official layout, with Range, or without it, or dropping a transfer.
(Not a test module: pytest collects nothing here.)"""
from __future__ import annotations

import bz2
import hashlib
import html
import http.server
import os
import re
import threading
from pathlib import Path

ES_NAMESPACES = {-2: "Medio", -1: "Especial", 0: "", 1: "Discusión", 2: "Usuario", 4: "Wikipedia",
                 6: "Archivo", 10: "Plantilla", 14: "Categoría", 100: "Portal", 104: "Anexo"}

# (title, wikitext, the sentences its corpus text must hold); pages with no sentences are not articles
ES_PAGES = [
    ("Madrid", """{{Ficha de localidad|nombre=Madrid|imagen=[[Archivo:Madrid.jpg|250px]]|país={{bandera|España}}}}
'''Madrid''' es la [[capital (política)|capital]] de [[España]].<ref name="ine">{{cita web|url=https://www.ine.es|título=INE}}</ref> Tiene más de tres millones de habitantes.<ref name="ine"/>

[[Archivo:Puerta del Sol.jpg|miniatura|La [[Puerta del Sol]] en [[2010]].]]
== Historia ==
La ciudad fue fundada en el [[siglo IX]] por [[Muhammad I de Córdoba|Muhámmad I]].<!-- revisar fecha -->

== Véase también ==
* [[Comunidad de Madrid]]

== Referencias ==
{{listaref}}

== Enlaces externos ==
* [https://www.madrid.es Sitio oficial]

[[Categoría:Madrid| ]]
[[en:Madrid]]
[[fr:Madrid]]""", ["Madrid es la capital de España. Tiene más de tres millones de habitantes.", "Historia",
                    "La ciudad fue fundada en el siglo IX por Muhámmad I."]),
    ("Toledo", """'''Toledo''' es una ciudad de [[Castilla-La Mancha]] a orillas del ''[[río Tajo|Tajo]]''.
{| class="wikitable"
! Año !! Habitantes
|-
| 2020 || {{formatnum:85000}}
|}
Su casco antiguo es [[Patrimonio de la Humanidad]] desde 1986.&nbsp;La catedral es gótica &amp; enorme.

=== Monumentos ===
<gallery>
Archivo:Alcázar.jpg|El Alcázar
</gallery>
La [[catedral de Toledo|catedral]] domina la ciudad.""", [
        "Toledo es una ciudad de Castilla-La Mancha a orillas del Tajo.",
        "Su casco antiguo es Patrimonio de la Humanidad desde 1986. La catedral es gótica & enorme.",
        "Monumentos", "La catedral domina la ciudad."]),
    ("Madrid (desambiguación)", "#REDIRECCIÓN [[Madrid]]", []),
    ("Ciudad Real", "#redirect [[Ciudad Real (España)]]", []),
    ("Plantilla:Ficha de localidad", "{{{nombre}}} es una plantilla.", []),
    ("Discusión:Madrid", "Esta página de discusión no es un artículo.", []),
    ("Ecuación", """La [[ecuación]] <math>E = mc^2</math> relaciona masa y energía.<ref>{{cita libro|autor=Einstein}}</ref>
La fórmula se publicó en 1905 [http://example.org/1905 en un artículo].""",
     ["La ecuación relaciona masa y energía. La fórmula se publicó en 1905 en un artículo."]),
    ("Lista", """Esta es una lista de ríos:
* [[Tajo]]
* [[Ebro]]
# [[Duero]]
; Guadiana
: El Guadiana nace en La Mancha.""", ["Esta es una lista de ríos:", "El Guadiana nace en La Mancha."]),
]


def siteinfo(lang="es", namespaces=None) -> str:
    names = ES_NAMESPACES if namespaces is None else namespaces
    rows = "".join(f'      <namespace key="{k}" case="first-letter">{html.escape(v)}</namespace>\n' if v else
                   f'      <namespace key="{k}" case="first-letter" />\n' for k, v in names.items())
    return (f"  <siteinfo>\n    <sitename>Wikipedia</sitename>\n    <dbname>{lang}wiki</dbname>\n"
            f"    <namespaces>\n{rows}    </namespaces>\n  </siteinfo>\n")


def header(lang="es", namespaces=None) -> str:
    return (f'<mediawiki xmlns="http://www.mediawiki.org/xml/export-0.10/" version="0.10" xml:lang="{lang}">\n'
            + siteinfo(lang, namespaces))


FOOTER = "</mediawiki>\n"


def page_xml(pid: int, title: str, text: str, namespaces=None) -> str:
    """A <page> as dumps write it: ns from the title's prefix, a <redirect> element for a redirect."""
    names = ES_NAMESPACES if namespaces is None else namespaces
    prefix = title.split(":", 1)[0] if ":" in title else ""
    ns = next((k for k, v in names.items() if v and v == prefix), 0)
    m = re.match(r"#\w+\s*\[\[([^\]]+)\]\]", text, re.I)
    redirect = f'    <redirect title="{html.escape(m.group(1))}" />\n' if m else ""
    return (f"  <page>\n    <title>{html.escape(title)}</title>\n    <ns>{ns}</ns>\n    <id>{pid}</id>\n{redirect}"
            f"    <revision>\n      <id>{pid + 1000}</id>\n      <model>wikitext</model>\n"
            f'      <text bytes="{len(text.encode())}" xml:space="preserve">{html.escape(text, quote=False)}</text>\n'
            f"    </revision>\n  </page>\n")


def pages_xml(pages, namespaces=None, first_id=1) -> list:
    return [page_xml(first_id + i, t, w, namespaces) for i, (t, w, *_) in enumerate(pages)]


def dump_text(pages, lang="es", namespaces=None) -> str:
    return header(lang, namespaces) + "".join(pages_xml(pages, namespaces)) + FOOTER


def many_pages(n: int, pages=ES_PAGES):
    """n pages: the hand-written ones again and again, each copy under its own title."""
    return [(f"{t} {k}" if k else t, w, s) for k in range(n // len(pages) + 1) for t, w, s in pages][:n]


def write_multistream(path: Path, pages, per_stream=100, lang="es", namespaces=None) -> Path:
    """The official layout: a stream for the header, streams of `per_stream` pages, one for the footer;
    the index beside it (offset:page_id:title). Returns the index's path."""
    blobs = pages_xml(pages, namespaces)
    streams, index, offset = [bz2.compress(header(lang, namespaces).encode())], [], None
    offset = len(streams[0])
    for s in range(0, len(blobs), per_stream):
        chunk = blobs[s:s + per_stream]
        for i, (title, *_) in enumerate(pages[s:s + per_stream]):
            index.append(f"{offset}:{s + i + 1}:{title}\n")
        data = bz2.compress("".join(chunk).encode())
        streams.append(data)
        offset += len(data)
    streams.append(bz2.compress(FOOTER.encode()))
    path.write_bytes(b"".join(streams))
    index_path = Path(str(path).replace("-multistream.xml.bz2", "-multistream-index.txt.bz2"))
    if index_path == path:
        index_path = path.with_name(path.name + ".index.bz2")
    index_path.write_bytes(bz2.compress("".join(index).encode()))
    return index_path


def cut_streams(data: bytes, size: int) -> bytes:
    """`data` compressed as pbzip2 does: independent streams of `size` bytes each, cut anywhere."""
    return b"".join(bz2.compress(data[i:i + size]) for i in range(0, len(data), size))


def corpus_sentences(text: str) -> list:
    """The corpus as lists of paragraphs, one list an article."""
    return [a.split("\n") for a in text.split("\n\n") if a.strip()]


# ---- a dump site on 127.0.0.1 ---------------------------------------------------------------------------
def publish(root: Path, lang: str, date: str, pages, per_stream=3, corrupt=False, latest=True) -> dict:
    """Write a dated multistream dump, its index and sha1sums (and md5sums) in the official layout
    under `root`; a `corrupt` dump's published sha1 is of other bytes. Returns {name: bytes}."""
    d = root / f"{lang}wiki" / date
    d.mkdir(parents=True, exist_ok=True)
    base = f"{lang}wiki-{date}-pages-articles-multistream"
    write_multistream(d / f"{base}.xml.bz2", pages, per_stream, lang)
    files = {p.name: p.read_bytes() for p in d.iterdir()}
    sha1 = {n: hashlib.sha1(b + b"x" * (corrupt and n.endswith(".xml.bz2"))).hexdigest() for n, b in files.items()}
    (d / f"{lang}wiki-{date}-sha1sums.txt").write_text("".join(f"{h}  {n}\n" for n, h in sorted(sha1.items())))
    (d / f"{lang}wiki-{date}-md5sums.txt").write_text(
        "".join(f"{hashlib.md5(b).hexdigest()}  {n}\n" for n, b in sorted(files.items())))
    if latest:
        l = root / f"{lang}wiki" / "latest"
        l.mkdir(exist_ok=True)
        (l / f"{lang}wiki-latest-pages-articles-multistream.xml.bz2-rss.xml").write_text(
            f'<?xml version="1.0" encoding="utf-8"?>\n<rss version="2.0"><channel><item>\n'
            f"<link>http://dumps.wikimedia.org/{lang}wiki/{date}</link>\n</item></channel></rss>\n")
    return files


class DumpServer:
    """A dump site on 127.0.0.1 serving the files under `root` (directories as listings), in a thread.

    ignore_range: answer every request with the whole file (200), as a server without Range does.
    drop: {file name: n}: the first transfer of that file sends its headers and n bytes, then hangs up.
    listing: False answers 404 for a directory (a site whose listings are hidden).
    requests: (path, Range header) of each request, in order."""

    def __init__(self, root: Path, ignore_range=False, drop=None, listing=True):
        self.root, self.ignore_range, self.drop, self.listing = Path(root), ignore_range, dict(drop or {}), listing
        self.requests = []
        server = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_GET(self):
                server.requests.append((self.path, self.headers.get("Range")))
                path = server.root / self.path.lstrip("/")
                if path.is_dir():
                    if not server.listing:
                        return self.send_error(404)
                    body = "".join(f'<a href="{p.name}{"/" if p.is_dir() else ""}">{p.name}</a>\n'
                                   for p in sorted(path.iterdir())).encode()
                    return self._send(200, body, {"Content-Type": "text/html"})
                if not path.is_file():
                    return self.send_error(404)
                data = path.read_bytes()
                m = re.match(r"bytes=(\d+)-(\d*)$", self.headers.get("Range") or "")
                if m and not server.ignore_range:
                    start = int(m.group(1))
                    end = min(int(m.group(2) or len(data) - 1), len(data) - 1)
                    if start >= len(data):
                        return self._send(416, b"", {"Content-Range": f"bytes */{len(data)}"})
                    return self._send(206, data[start:end + 1], {"Content-Range": f"bytes {start}-{end}/{len(data)}"},
                                      path.name)
                return self._send(200, data, {}, path.name)

            def _send(self, status, body, headers, name=None):
                self.send_response(status)
                for k, v in headers.items():
                    self.send_header(k, v)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                n = server.drop.pop(name, None) if name else None
                if n is not None:                  # hang up after n bytes
                    self.wfile.write(body[:n])
                    self.wfile.flush()
                    self.close_connection = True
                    return
                self.wfile.write(body)

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join()


def env_with_root(root: str) -> dict:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([root, env.get("PYTHONPATH", "")])
    return env
