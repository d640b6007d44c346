"""Wikitext to prose (minirnn.wiki.markup): a test for each rule of docs/wikipedia.md on hand-written
Spanish pages, a test beside each regular expression, pages in other languages with markup the passes
were not written against, and random pages assembled from markup around a known sentence."""
import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from minirnn.wiki import markup
from minirnn.wiki.markup import Site, is_redirect, residue, to_prose

from wikidump import ES_NAMESPACES, ES_PAGES

ES = Site.from_namespaces(ES_NAMESPACES)


def prose(text, site=ES):
    return to_prose(text, site)


# ---- one test per rule, on Spanish pages ---------------------------------------------------------------
def test_templates_nested_and_infoboxes_go():
    assert prose("{{Ficha de persona|nombre={{lang|es|Ana}}|padre={{enlace|{{x}}}}}}Ana nació en Lima.") == \
        ["Ana nació en Lima."]
    assert prose("Antes {{#if:{{{1|}}}|sí|no}} después.") == ["Antes después."]
    # an unclosed {{ goes alone (the site shows it as text), the prose after it stays
    assert prose("Uno {{cita|a}} dos {{roto tres.") == ["Uno dos roto tres."]
    assert prose("Uno }} dos.") == ["Uno dos."]                       # a close with nothing open
    assert prose("l{{'}}''Art'' est long.") == ["l'Art est long."]      # {{'}} is an apostrophe


def test_tables_nested_go_and_an_unclosed_table_ends_the_page():
    assert prose("Antes.\n{| class=\"wikitable\"\n| a\n{|\n| b\n|}\n| c\n|}\nDespués.") == ["Antes.", "Después."]
    assert prose("Antes.\n:{|\n| sangrada\n|}\nDespués.") == ["Antes.", "Después."]
    assert prose("Antes.\n{|\n| sin cierre\nnada más") == ["Antes."]


def test_refs_comments_galleries_and_math_go():
    text = ('Dato<ref name="a">{{cita|x}}</ref> uno<ref name="a"/> y <REF>otro</REF>.<!-- nota\noculta -->'
            '\n<gallery>\nArchivo:a.jpg|pie\n</gallery>\nLa fórmula <math>x^2 < y</math> vale.\n<references/>')
    assert prose(text) == ["Dato uno y.", "La fórmula vale."]
    assert prose("Texto <!-- sin cierre\nnada") == ["Texto"]


def test_file_and_category_links_go_by_the_names_siteinfo_declares():
    assert prose("[[Archivo:Sol.jpg|miniatura|La [[Puerta del Sol]] en [[2010]]]]Madrid.") == ["Madrid."]
    assert prose("Madrid.[[Categoría:Capitales]][[Categoría:Madrid| ]]") == ["Madrid."]
    # English canonical names in any wiki; an alias siteinfo does not list, by the file's extension
    assert prose("[[File:a.png|thumb|x]][[Image:b.svg]][[Category:X]][[Imagen:c.JPG|thumb|y]]Uno.") == ["Uno."]
    # another wiki's names: a French dump declares Fichier and Catégorie
    fr = Site.from_namespaces({6: "Fichier", 14: "Catégorie"})
    assert prose("[[Fichier:x.jpg|vignette|pie]]Paris.[[Catégorie:Ville]]", fr) == ["Paris."]
    assert prose("[[Fichier:x|pie]] Paris.", ES) == ["pie Paris."]        # not a namespace of this wiki
    # a link shown as text, [[:Categoría:X|...]], keeps its text
    assert prose("Véase la [[:Categoría:Ríos|lista de ríos]].") == ["Véase la lista de ríos."]


def test_interlanguage_links_go_and_other_interwiki_links_keep_their_text():
    assert prose("Madrid.\n[[en:Madrid]]\n[[zh-min-nan:Madrid]]\n[[simple:Madrid]]") == ["Madrid."]
    assert prose("Una [[wikt:casa|casa]] y [[Star Trek: Voyager]].") == ["Una casa y Star Trek: Voyager."]
    assert prose("[[Wikipedia:Portada]] y [[en:Madrid|Madrid en inglés]].") == \
        ["Wikipedia:Portada y Madrid en inglés."]


def test_a_link_keeps_its_text():
    assert prose("[[España]], [[Madrid|la capital]], [[perro]]s, [[Madrid (España)|]], [[#Historia]].") == \
        ["España, la capital, perros, Madrid, Historia."]
    assert prose("[[Río Tajo#Curso|el curso]] y [[Río Tajo#Curso]].") == ["el curso y Río Tajo."]


def test_external_links_keep_their_label_and_bare_urls_go():
    assert prose("Ver [https://www.ine.es el INE] y [http://x.org] o https://y.org/a?b=1 ya.") == \
        ["Ver el INE y o ya."]
    assert prose("Ver [//example.org/x sitio] y [mailto:a@b.es correo].") == ["Ver sitio y correo."]


def test_bold_italic_go_and_entities_are_decoded():
    assert prose("'''Negrita''', ''cursiva'' y '''''ambas'''''.") == ["Negrita, cursiva y ambas."]
    assert prose("l''''Académie''' et ''''''six''''''.") == ["l'Académie et 'six'."]
    assert prose("A &amp; B&nbsp;C &#233;l &eacute; &lt;b&gt; D&amp;nbsp;E.") == ["A & B C él é <b> D E."]
    assert prose("a\u202fb\u3000c soft\u00adhy\u200bphen\ufeff.") == ["a b c softhyphen."]


def test_tags_keep_their_text_and_magic_words_go():
    assert prose("__NOTOC__Uno<br/>dos <small>tres</small> km<sup>2</sup> <span style=\"a\">cuatro</span>.") == \
        ["Uno dos tres km2 cuatro."]


def test_reference_bibliography_and_external_link_sections_go():
    text = ("Intro.\n== Historia ==\nTexto.\n== Referencias ==\nFuente en prosa.\n=== Notas ===\nNota.\n"
            "== Bibliografía ==\nGarcía, J. (2001). Libro.\n== Enlaces externos ==\nSitio.\n== Cultura ==\nMás.")
    assert prose(text) == ["Intro.", "Historia", "Texto.", "Cultura", "Más."]


def test_headings_stay_only_with_prose_under_them():
    text = "Intro.\n== Vacía ==\n{{sin texto}}\n== Sección ==\n=== Sub ===\nTexto.\n== Final ==\n* lista"
    assert prose(text) == ["Intro.", "Sección", "Sub", "Texto."]
    assert prose("== A = B ==\nTexto.\n==Sin espacios==\nMás.") == ["A = B", "Texto.", "Sin espacios", "Más."]


def test_lists_go_indents_stay_and_paragraphs_are_lines():
    text = "Uno\ndos.\n\nTres.\n* item\n# número\n; término\n: Sangrado.\n:: Más.\nCuatro.\n----\n()"
    assert prose(text) == ["Uno dos.", "Tres.", "Sangrado.", "Más.", "Cuatro."]


def test_what_removed_markup_leaves_is_tidied():
    assert prose("Lima {{pron}} ( {{IPA}} ) es , sin duda , grande {{cn}}.") == ["Lima es, sin duda, grande."]


def test_redirects_in_any_case_and_language():
    for text in ("#REDIRECCIÓN [[Madrid]]", "#redirect [[Madrid]]", "#REDIRECT:[[Madrid]]", "#Redirección [[X]]",
                 "#WEITERLEITUNG [[Berlin]]", "#перенаправление [[Москва]]", "#転送 [[東京]]", " #REDIRECT [[X]]"):
        assert is_redirect(text), text
    assert not is_redirect("Madrid es la capital.")
    long_list = "#Primer punto [[enlace]]\n" + "Un artículo largo que empieza con una lista numerada. " * 20
    assert not is_redirect(long_list)


@pytest.mark.parametrize("title, text, sentences", [p for p in ES_PAGES if p[2]], ids=lambda x: str(x)[:12])
def test_hand_written_spanish_pages(title, text, sentences):
    out = prose(text)
    assert out == sentences
    assert residue("\n".join(out)) == {}


# ---- each regular expression, with what it must match and what it must not ---------------------------------
# (pattern, how the code applies it, strings it must match whole, strings where it must find nothing)
REGEXES = [
    (markup.COMMENT, "search", ["<!-- a -->", "<!--\nmulti\n-->", "<!-- sin cierre"], ["<! -- no -->", "<-- no -->"]),
    (markup.ELEMENT, "search", ["<ref>a</ref>", '<ref name="x"/>', "<REF name=x>a</Ref >", "<references/>",
                                "<math>x</math>", "<gallery mode=packed>\nA.jpg\n</gallery>", "<table><tr><td>x</td></tr></table>"],
     ["<refx>a</refx>", "<span>a</span>", "<ref>sin cierre"]),
    (markup.TEMPLATE_TOKEN, "search", ["{{", "}}"], ["{ {", "} }"]),
    (markup.TABLE_TOKEN, "search", ["{|", "  {|", ":{|", "|}", " |}"], ["a {|", "x |}"]),
    (markup.PARAMETER, "search", ["{{{1}}}", "{{{nombre|x}}}"], ["{{nombre}}"]),
    (markup.CHARACTER_TEMPLATES, "search", ["{{'}}", "{{ ’ }}"], ["{{''}}", "{{a}}"]),
    (markup.EXTERNAL_LINK, "search", ["[http://a.es b]", "[https://a.es]", "[//a.es b]", "[mailto:a@b.es c]",
                                      "[ftp://x y z]"], ["[[a]]", "[a b]", "[http: x]", "[https:a.es]"]),
    (markup.BARE_URL, "search", ["http://a.es/x?y=1", "https://a.es"], ["ahttp://a.es", "/http://a", "mailto:x@y"]),
    (markup.INTERNAL_LINK, "search", ["[[a]]", "[[a|b]]", "[[a|b [c] d]]", "[[a|]]", "[[Archivo:x.jpg|thumb|pie]]"],
     ["[[a\nb]]", "[a]", "[[a"]),
    (markup.PLAIN_LINK, "search", ["[[España]]", "[[Río Tajo]]"], ["[[a:b]]", "[[a#b]]", "[[a|b]]"]),
    (markup.PLAIN_LABELLED_LINK, "search", ["[[a|b]]", "[[Río|el río]]"], ["[[a|]]", "[[a| ]]", "[[a:b|c]]", "[[a#b|c]]"]),
    (markup.PARENTHESIS, "search", [" (España)", "(x)"], ["(a) b", "(a(b))"]),
    (markup.LANGUAGE_CODE, "match", ["en", "es", "zh-min-nan", "simple", "be-x-old", "nds-nl"],
     ["WP", "wikt", "s", "Star Trek", "w"]),
    (markup.MAGIC_WORD, "search", ["__NOTOC__", "__TOC__"], ["__notoc__", "_TOC_"]),
    (markup.TAG, "search", ["<br>", "<br/>", "</small>", '<span style="x">', "<div class='a'>"], ["< br>", "a < b > c", "<1>"]),
    (markup.EMPHASIS, "search", ["''", "'''"], ["'", "’’"]),
    (markup.ENTITY, "search", ["&amp;", "&nbsp;", "&#233;", "&#xE9;"], ["&", "& amp;", "&#;", "a&b"]),
    (markup.HEADING, "match", ["== A ==", "=A=", "=== A = B ===", "==A==  "], ["A ==", "==", "=A"]),
    (markup.LETTER, "search", ["a", "ñ", "Ж", "東"], ["1", "_", ".", " "]),
    (markup.EMPTY_BRACKETS, "search", ["()", "( )", "(, )", "( ; )", "[ ]"], ["(a)", "[a]"]),
    (markup.REDIRECT, "match", ["#REDIRECT [[", "#redirección:[[", "#転送[[", " #redirect [["],
     ["#1 [[a]]", "REDIRECT [[a]]", "# REDIRECT [[a]]", "texto #REDIRECT [[a]]"]),
    (markup.RESIDUE, "search", ["{{", "}}", "[[", "]]", "{|", "|}", "<ref", "&amp;", "thumb|", "''", "==", "| nombre ="],
     ["{", "[a]", "a = b", "a|b", "<b>"]),
]


@pytest.mark.parametrize("pattern, how, matches, misses", REGEXES, ids=[r[0].pattern[:24] for r in REGEXES])
def test_each_regular_expression(pattern, how, matches, misses):
    find = getattr(pattern, how)
    for s in matches:
        m = find(s)
        assert m is not None and m.group() == s, (pattern.pattern, s, m)
    for s in misses:
        assert find(s) is None, (pattern.pattern, s, find(s))


# ---- other languages and other markup: nothing left, and every article with prose keeps it ------------------
OTHER_PAGES = {
    "fr": ({6: "Fichier", 14: "Catégorie", 10: "Modèle"}, """{{Infobox Ville
 | nom = Lyon
 | image = Lyon.jpg
}}
'''Lyon''' est une [[commune française|commune]] située au confluent du [[Rhône (fleuve)|Rhône]] et de la [[Saône]]{{,}}<ref>{{Lien web|url=http://x|titre=Insee}}</ref>. C{{'}}est la troisième ville de France{{réf. nécessaire}}.

[[Fichier:Lyon vue.jpg|vignette|upright=1.2|Vue de l{{'}}[[Hôtel de ville de Lyon|hôtel de ville]].]]
== Histoire ==
{{Article détaillé|Histoire de Lyon}}
La ville est fondée en {{date-|43 av. J.-C.}} sous le nom de ''Lugdunum''&#160;: elle devient la capitale des Gaules.
== Notes et références ==
{{Références}}
== Voir aussi ==
{{Portail|Lyon}}
[[Catégorie:Lyon]]""", ["Lyon est une commune située au confluent du Rhône et de la Saône. C'est la troisième ville de France.",
                        "Histoire", "La ville est fondée en sous le nom de Lugdunum : elle devient la capitale des Gaules."]),
    "de": ({6: "Datei", 14: "Kategorie", 10: "Vorlage"}, """{{Infobox Gemeinde in Deutschland
|Name = Köln}}
'''Köln''' ([[Kölsch (Sprache)|kölsch]] ''Kölle'') ist mit über einer Million Einwohnern die [[Liste der Großstädte in Deutschland|viertgrößte Stadt]] Deutschlands.<ref name="Einwohner">[https://www.it.nrw/ Landesamt]</ref>
{| class="wikitable sortable"
|+ Bevölkerung
|-
! Jahr !! Einwohner
|-
| 1900 || {{FormatNum:372229}}
|}
[[Datei:Köln Dom.jpg|mini|hochkant|Der [[Kölner Dom]]]]
== Geschichte ==
Die Stadt wurde von den Römern gegründet.<ref>Eck 2004, S. 12.</ref>
== Literatur ==
* Werner Eck: ''Köln in römischer Zeit.'' 2004.
== Weblinks ==
{{Commons|Köln}}
* [https://www.stadt-koeln.de Offizielle Website]
== Einzelnachweise ==
<references />
[[Kategorie:Köln]]
[[en:Cologne]]""", ["Köln (kölsch Kölle) ist mit über einer Million Einwohnern die viertgrößte Stadt Deutschlands.",
                    "Geschichte", "Die Stadt wurde von den Römern gegründet."]),
    "bg": ({6: "Файл", 14: "Категория", 10: "Шаблон"}, """{{Инфокутия Град
| име = София
| снимка = [[Файл:Sofia.jpg|250px]]
}}
'''София''' е [[столица]]та на [[България]].<ref>{{цитат уеб|url=http://x|заглавие=НСИ}}</ref> Градът е разположен в [[Софийско поле|Софийското поле]].
[[Картинка:Витоша.jpg|мини|Планината [[Витоша]]]]
== История ==
Древното име на града е ''Сердика''.
== Източници ==
<references/>
== Външни препратки ==
* [http://www.sofia.bg Официален сайт]
[[Категория:Столици в Европа]]
[[en:Sofia]]""", ["София е столицата на България. Градът е разположен в Софийското поле.", "История",
                  "Древното име на града е Сердика."]),
    "ja": ({6: "ファイル", 14: "Category", 10: "Template"}, """{{Infobox 都市
|名前 = 京都市
}}
'''京都市'''（きょうとし）は、[[京都府]]南部にある[[市]]。<ref name="a">{{Cite web|url=http://x|title=京都市}}</ref>
{{Main|京都の歴史}}
<ruby>京<rp>(</rp><rt>きょう</rt><rp>)</rp></ruby>都は古い都である。
[[ファイル:Kyoto.jpg|thumb|[[清水寺]]]]
== 歴史 ==
[[794年]]に[[平安京]]が置かれた<ref>史料</ref>。
== 脚注 ==
{{Reflist}}
== 関連項目 ==
* [[日本の首都]]
[[Category:京都市|*]]""", ["京都市（きょうとし）は、京都府南部にある市。", "京(きょう)都は古い都である。", "歴史",
                          "794年に平安京が置かれた。"]),
    "it": ({6: "File", 14: "Categoria", 10: "Template"}, """{{S|città}}
{{Divisione amministrativa
|Nome = Napoli
}}
'''Napoli''' (''Napule'' in [[lingua napoletana|napoletano]]) è un [[comune italiano]]<ref>{{Cita web|url=http://x}}</ref>; è la terza città d'Italia per popolazione.
<div style="float:right">{{Clear}}</div>
<center>Il [[Vesuvio]] domina il golfo.</center>
== Note ==
<references/>
== Bibliografia ==
* {{Cita libro|autore=Croce|titolo=Storia}}
== Altri progetti ==
{{interprogetto}}
[[Categoria:Napoli]]""", ["Napoli (Napule in napoletano) è un comune italiano; è la terza città d'Italia per popolazione.",
                          "Il Vesuvio domina il golfo."]),
}


@pytest.mark.parametrize("lang", sorted(OTHER_PAGES))
def test_pages_in_other_languages_keep_their_prose_and_leave_no_markup(lang):
    names, text, sentences = OTHER_PAGES[lang]
    out = to_prose(text, Site.from_namespaces(names))
    assert out == sentences
    assert residue("\n".join(out)) == {}


# ---- random pages: a known sentence wrapped in markup comes out whole, and nothing else is left -------------
NOISE = ["{{cita|a=b|c={{x}}}}", "<ref name=\"r\">{{cita web|url=http://x}}</ref>", "<ref name=\"r\"/>", "<!-- nota -->",
         "[[Archivo:x.jpg|miniatura|pie con [[enlace]]]]", "[[Categoría:X]]", "<math>a+b</math>", "__NOTOC__",
         "{{Ficha|a=1\n|b=2}}", "\n{|\n| celda || otra\n|}\n", "<small></small>", "\n[[en:X]]\n"]
WORDS = ["el", "río", "Tajo", "nace", "en", "la", "sierra", "de", "Albarracín", "y", "pasa", "por", "Toledo"]


@settings(max_examples=60, deadline=None, derandomize=True)
@given(st.lists(st.tuples(st.sampled_from(WORDS), st.sampled_from(NOISE + [""] * 6),
                          st.sampled_from(["", "''", "'''"])), min_size=1, max_size=12))
def test_random_markup_around_prose_leaves_the_words_and_no_residue(parts):
    text = " ".join(f"{noise}{q}{word}{q}" for word, noise, q in parts)
    out = "\n".join(to_prose(text, ES))
    assert out.split() == [w for w, _, _ in parts]
    assert residue(out) == {}
