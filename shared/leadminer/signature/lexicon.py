"""Word lists and patterns shared by signature detection and field extraction.

Kept small and general on purpose (no names of particular companies or people):
job-title words, organisation suffixes, sign-offs in the languages mail is
commonly written in, contact labels and postal-address shapes.
"""

from __future__ import annotations

import re

from .identity import fold


def _folded(words: str) -> frozenset[str]:
    """Words as they are looked up: folded (lower case, no accents)."""
    return frozenset(fold(w) for w in words.split())


TITLE_WORDS = _folded(
    """
    manager director president vice vp svp evp avp ceo cfo coo cto cio cmo cso cpo chief officer
    head lead counsel attorney lawyer paralegal solicitor barrister analyst associate assistant
    administrator coordinator consultant specialist engineer developer architect designer
    scientist researcher professor lecturer geologist geophysicist economist accountant controller
    treasurer secretary clerk representative rep agent broker trader originator scheduler
    recruiter advisor adviser partner principal founder co-founder cofounder owner chairman
    chairwoman chairperson chair executive supervisor superintendent technician editor writer
    journalist reporter producer intern fellow senior sr junior staff trustee auditor planner
    buyer operator nurse physician pastor teacher librarian strategist evangelist programmer
    webmaster support officer cpa cfa esq dba sysadmin maintainer artist photographer author
    translator coach therapist cheffe directora
    gérant directeur directrice responsable chef ingénieur ingenieur
    geschäftsführer geschaftsfuhrer leiter leiterin referent referentin berater beraterin
    vorstand prokurist inhaber gerente jefe jefa ingeniero ingeniera responsabile direttore
    direttrice medewerker adviseur eigenaar directeur-generaal presidente fondateur fondatrice
    fundador fundadora grunder grunderin oprichter abogado abogada avocat avocate anwalt anwaltin
    rechtsanwalt rechtsanwaltin notaire avvocato ingegnere consultor consultora consulente analista
    asistente assistente assistante coordinador coordinadora coordinateur coordinatrice coordinatore
    sachbearbeiter sachbearbeiterin gerant gerante
    expert marketer dispatcher negotiator underwriter investigator inspector estimator instructor
    educator adjuster appraiser examiner surveyor landman comptroller bookkeeper liaison facilitator
    moderator organizer organiser curator mediator arbitrator registrar commissioner governor
    senator deputy ambassador delegate cashier surgeon chancellor provost chaplain trainee
    apprentice ombudsman spokesperson spokesman spokeswoman foreman minister
    mgr asst admin exec engr coord supv supvr
    leader student postdoc aide
    """
)

ORG_SUFFIXES = _folded(
    """
    inc incorporated llc llp lp pllc pc ltd limited corp corporation co company companies gmbh ag
    kg kgaa sa sas sarl srl spa bv nv plc pty oy ab asa kk se ug sl slu sau eurl sasu snc ltda bvba
    ev mbh gbr ohg aps oyj
    group holdings partners associates bank university college institute foundation association
    society agency consulting consultants services solutions systems technologies technology
    industries international enterprises ventures capital energy resources pipeline exploration
    production networks department dept division ministry council committee hospital clinic school
    labs laboratories laboratory media studio studios software communications telecom trust fund
    insurance securities law firm commission authority administration bureau gesellschaft
    université universität universidad università affairs relations operations marketing finance
    accounting engineering treasury procurement logistics compliance audit
    """
)

# Legal forms only: a line carrying one names a company, not a unit of it.
LEGAL_FORMS = _folded(
    """
    inc incorporated llc llp lp pllc pc ltd limited corp corporation co company gmbh ag kg kgaa sa sas
    sarl srl spa bv nv plc pty oy ab asa kk se ug sl slu sau eurl sasu snc ltda bvba ev mbh gbr ohg aps oyj
    """
)


def has_legal_form(tokens: list[str]) -> bool:
    """Folded tokens with a legal form ("Acme Inc", "Iberdrola S.A.")."""
    return any(t in LEGAL_FORMS or ("." in t and t.replace(".", "") in LEGAL_FORMS) for t in tokens)


# Units inside an organisation (business functions): after a title on the same
# line they name the sender's department and belong to the title
# ("Specialist, Gas Settlements", "Vice President, Regulatory Affairs").
DEPARTMENT_WORDS = _folded(
    """
    department dept division unit desk affairs relations operations marketing finance accounting
    engineering treasury procurement logistics compliance audit administration resources
    settlement settlements trading sales legal research development support management risk
    scheduling origination structuring planning strategy analysis analytics underwriting credit markets region
    """
)


# Nouns that name a unit as such ("Legal Department", "Corporate Advisory Division"):
# such a line names a part of the organisation, while a bare function ("Vendor
# Management", "Transaction Management") says what the sender does.
UNIT_NOUNS = _folded("department dept division unit desk group office")


def is_department(tokens: list[str]) -> bool:
    """Folded tokens that name a unit, not an organisation: a business-function word
    and no legal form or institution word ("Gas Settlements", not "Acme Trading Inc")."""
    return any(t in DEPARTMENT_WORDS for t in tokens) and not any(
        is_org_suffix(t) and t not in DEPARTMENT_WORDS for t in tokens
    )


# German (and Dutch) titles are compounds: "Projektmanagerin", "Vertriebsleiter".
# Tokens are folded (no accents) before they are looked up, so these are too.
TITLE_SUFFIXES = (
    "manager", "managerin", "leiter", "leiterin", "fuhrer", "fuhrerin", "berater", "beraterin",
    "referent", "referentin", "ingenieur", "ingenieurin", "assistent", "assistentin", "direktor",
    "direktorin", "entwickler", "entwicklerin", "spezialist", "spezialistin", "kaufmann", "kauffrau",
    "beheerder", "adviseur", "engineer", "director", "officer", "analyst", "architect", "designer",
)


# Head nouns of occupations by their ending ("economist", "meteorologist", "technician",
# "statistician"), minus the -ist words that name a creed or a list, not a job.
_OCCUPATION_ENDINGS = ("ist", "ician")
_NOT_OCCUPATIONS = frozenset("baptist methodist adventist communist socialist".split())


def _title_head(token: str) -> bool:
    if token in TITLE_WORDS or (len(token) >= 8 and token.endswith(TITLE_SUFFIXES)):
        return True
    return (
        len(token) >= 7
        and token.endswith(_OCCUPATION_ENDINGS)
        and not (token.endswith("list") and not token.endswith("alist"))
        and token not in _NOT_OCCUPATIONS
    )


def is_title_word(token: str) -> bool:
    """A job-title word (folded token), including compound titles ("Projektmanagerin"),
    occupations by their ending ("Meteorologist") and hyphenated titles
    ("Manager-Corporate Development", "Vice-President")."""
    if _title_head(token):
        return True
    return "-" in token and any(_title_head(part) for part in token.split("-") if part)


def is_org_suffix(token: str) -> bool:
    """A legal-form or organisation word (folded token); dotted forms too ("S.r.l", "B.V")."""
    return token in ORG_SUFFIXES or ("." in token and token.replace(".", "") in ORG_SUFFIXES)


NOT_NAME_WORDS = ORG_SUFFIXES | TITLE_WORDS | DEPARTMENT_WORDS | frozenset(
    """
    street st avenue ave road rd boulevard blvd drive dr lane way suite floor box
    phone fax tel mobile cell email e-mail web www office desk team http https
    the and of for in at to from on with by re fw fwd
    """.split()
)

_SIGN_OFF_PHRASES = [
    # English
    r"(?:best|kind|warm|warmest|kindest|many|with\s+best|with\s+kind)\s+(?:regards|wishes)",
    r"regards", r"rgds", r"br", r"best", r"all\s+the\s+best", r"cheers",
    r"thanks(?:\s+(?:again|so\s+much|a\s+lot|in\s+advance|very\s+much|all|you))*",
    r"thank\s+you(?:\s+(?:again|so\s+much|very\s+much|in\s+advance))*",
    r"many\s+thanks", r"thx", r"tx", r"tks", r"ty",
    r"(?:yours\s+)?sincerely(?:\s+yours)?", r"yours\s+(?:truly|faithfully|ever)", r"respectfully(?:\s+yours)?",
    r"cordially", r"take\s+care", r"love", r"warmly", r"talk\s+soon", r"see\s+you(?:\s+soon)?",
    r"best\s+wishes", r"have\s+a\s+(?:nice|great|good)\s+(?:day|weekend|evening)", r"your\s+pal",
    r"sent\s+with\s+love", r"hugs", r"ciao", r"later",
    # German
    r"mit\s+freundlichen\s+gr(?:ü|ue|u)(?:ß|ss)en", r"mfg",
    r"(?:viele|beste|liebe|herzliche|schöne|freundliche)\s+gr(?:ü|ue|u)(?:ß|ss)e",
    r"gr(?:ü|ue|u)(?:ß|ss)e", r"gru(?:ß|ss)", r"lg", r"vg", r"danke(?:\s+schön)?", r"vielen\s+dank",
    # French
    r"(?:bien\s+)?cordialement", r"bien\s+à\s+vous", r"(?:meilleures\s+|sinc[eè]res\s+)?salutations",
    r"amitiés", r"amicalement", r"merci(?:\s+beaucoup|\s+d'avance)?", r"bonne\s+(?:journée|soirée)",
    r"à\s+bientôt", r"bises",
    # Spanish / Portuguese / Italian / Dutch
    r"(?:un\s+)?saludos?(?:\s+cordiales)?", r"atentamente", r"cordialmente", r"(?:muchas\s+)?gracias",
    r"un\s+abrazo", r"atenciosamente", r"obrigad[oa]", r"abraços?", r"cumprimentos",
    r"(?:cordiali|distinti)\s+saluti", r"saluti", r"grazie(?:\s+mille)?", r"un\s+saluto",
    r"(?:met\s+)?(?:vriendelijke|hartelijke)\s+groet(?:en)?", r"groet(?:en|jes)?", r"mvg", r"bedankt",
    r"dank\s+je(?:\s+wel)?",
]
SIGN_OFF = re.compile(
    r"^\s*[-–—]*\s*(?:" + "|".join(_SIGN_OFF_PHRASES) + r")\s*[,.!:;-]*\s*"
    r"(?P<rest>(?:[-–—]+\s*)?[A-Za-zÀ-ÿ][\w'.-]*(?:\s+[A-Za-zÀ-ÿ][\w'.-]*){0,2}[.!]?)?\s*$",
    re.IGNORECASE,
)

# A line announcing the writer's own contact block inside the text: "My coordinates:",
# "My contact details are:", "You can reach me at:", "Contact information below:",
# "Mes coordonnées :", "Meine Kontaktdaten:", "Mis datos de contacto:".
CONTACT_LEAD_IN = re.compile(
    r"^(?:(?:(?:here|below)\s+(?:are|is)\s+)?(?:my|our)\s+(?:new\s+|current\s+|full\s+)?(?:contact\s+)?"
    r"(?:details|data|info(?:rmation)?|numbers?|coordinates)"
    r"|contact\s+(?:details|data|info(?:rmation)?|numbers?)|coordinates"
    r"|(?:you\s+can\s+|please\s+)?(?:reach|contact|call)\s+me\s+(?:at|on|via|here|under)"
    r"|(?:mes|nos)\s+(?:nouvelles\s+)?coordonn[ée]es|(?:meine|unsere)\s+(?:neuen\s+)?kontaktdaten"
    r"|(?:mis|nuestros)\s+datos(?:\s+de\s+contacto)?"
    r")(?:\s+(?:are|is))?(?:\s+(?:below|as\s+follows|here))?\s*:\s*$",
    re.IGNORECASE,
)
SIG_DASH = re.compile(r"^(?:--|__)\s*$")  # the "-- " delimiter (and bare "--", "__")
RULE = re.compile(r"^\s*(?:[-_=*~#+]\s?){2,}[-_=*~#+]?\s*$")  # ____ / ***** / ----- / ===

# Local parts of addresses that name a role or a desk, not a person ("info@", "sales@"):
# such an address in a block says nothing about who signs it.
ROLE_LOCAL_PARTS = frozenset(
    """
    info information contact contacts office admin mail email hello sales support service services help
    helpdesk enquiries enquiry inquiries inquiry team marketing hr jobs careers billing accounts accounting
    reception press media news webmaster postmaster noreply no-reply orders customerservice
    """.split()
)


def is_role_address(address: str) -> bool:
    """"info@acme.com", "Sales@acme.com": a role or desk, not a person."""
    return address.partition("@")[0].lower() in ROLE_LOCAL_PARTS


EMAIL = re.compile(r"(?<![\w.+-])[A-Za-z0-9][\w.+'-]*@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}")
ANGLE_EMAIL = re.compile(r"<?(?:mailto:)?[\w.+'-]+@[\w.-]+>?")  # "<jane@x.org>" in "Jane Doe <jane@x.org>"
_TLDS = (
    r"com|org|net|io|co|biz|info|edu|gov|de|fr|uk|nl|es|it|ch|at|be|ca|au|eu|app|dev|ai|us|se|dk|no|fi|pl|pt|ie"
    r"|jp|in|br|nz|za"
)
URL = re.compile(
    r"(?:https?://|www\.)[^\s<>()\"',;`|*]+"
    r"|(?<![@\w.-])[a-z0-9-]{3,}(?:\.[a-z0-9-]+)*\.(?:" + _TLDS + r")(?:/[^\s<>()\"',;`|*]*)?(?![\w@-]|\.\w)",
    re.IGNORECASE,
)
SOCIAL_HOSTS = (
    "linkedin.com", "twitter.com", "x.com", "github.com", "gitlab.com", "facebook.com", "fb.com",
    "instagram.com", "youtube.com", "youtu.be", "tiktok.com", "medium.com", "xing.com",
    "bsky.app", "threads.net", "mastodon.social", "pinterest.com", "behance.net", "dribbble.com",
    "stackoverflow.com", "t.me", "wa.me", "vimeo.com", "flickr.com", "soundcloud.com",
)
MASTODON_PATH = re.compile(r"^https?://[^/]+/@\w+/?$", re.IGNORECASE)

# Something that looks like a phone number: 7+ digits with phone-style separators
# (a bare run of digits must be 10+ long: ids and dates are shorter).
PHONE_LIKE = re.compile(r"(?<![\w/])\+?\(?\d[\d\s().\-/]{5,}\d(?![\w/])")
DATE_LINE = re.compile(
    r"^\s*(?:(?:mon|tue|wed|thu|fri|sat|sun)\w*,?\s+)?(?:\d{1,2}[/.-]\d{1,2}[/.-]\d{2,4}"
    r"|(?:jan|feb|mar|apr|may|jun|jul|aug|sep|oct|nov|dec)\w*\.?\s+\d{1,2}(?:st|nd|rd|th)?,?\s+\d{4}"
    r"|\d{1,2}\.?\s+(?:jan|feb|mar|apr|may|jun|jul|aug|sep|oct|nov|dec)\w*\.?\s+\d{4})"
    r"(?:\s+\d{1,2}:\d{2}(?::\d{2})?\s*(?:[ap]\.?m\.?)?)?\s*(?:[A-Z]{2,4})?\s*$"
    r"|^\s*\d{1,2}:\d{2}(?::\d{2})?\s*(?:[ap]\.?m\.?)?\s*(?:[A-Z]{2,4})?\s*$",
    re.IGNORECASE,
)
DATE_LIKE = re.compile(r"\b\d{1,2}[/.]\d{1,2}[/.]\d{2,4}\b|\b\d{4}-\d{2}-\d{2}\b")
EXTENSION = re.compile(r"(?:^|[\s(])(?:x|ext\.?|extension|\*)\s?-?\d(?:-?\d){2,5}\b|^\s*\d-\d{4}\s*$", re.IGNORECASE)
PHONE_LABEL = re.compile(
    r"\b(?:phone|ph|tel|tél|telephone|téléphone|telefon|telefono|teléfono|office|direct|dir|"
    r"work|home|mobile|mob|cell|cellular|wireless|handy|portable|móvil|movil|celular|pager|"
    r"fax|facsimile|telefax|fx|voice|main|switchboard)\b\.?\s*(?:no\.?|number|#)?\s*[:.#)]"
    r"|(?:^|\s)[tfmpocdwh]\s*:",
    re.IGNORECASE,
)
FAX_LABEL = re.compile(r"\b(?:fax|facsimile|telefax|télécopie|fx|f)\b", re.IGNORECASE)
MOBILE_LABEL = re.compile(
    r"\b(?:mobile|mob|cell|cellular|wireless|handy|portable|móvil|movil|celular|m|c)\b", re.IGNORECASE
)
EMAIL_LABEL = re.compile(r"^\s*(?:e-?mail|mail|email\s+address|courriel)\s*(?:address)?\s*[:.]?\s*", re.IGNORECASE)

_STREET_WORDS = (
    r"street|st|avenue|ave|av|road|rd|boulevard|blvd|drive|dr|lane|ln|way|place|pl|court|ct|"
    r"parkway|pkwy|highway|hwy|square|sq|plaza|circle|cir|terrace|trail|freeway|fwy|center|centre|"
    r"strasse|straße|str|gasse|platz|allee|weg|rue|chemin|calle|avenida|via|viale|piazza|straat|"
    r"laan|plein|gracht"
)
STREET = re.compile(
    r"^\s*\d+[a-z]?(?:-\d+)?\s+(?:[\w.'-]+\s+){0,4}(?:" + _STREET_WORDS + r")\b\.?"
    r"|[a-zäöüß](?:strasse|straße|str\.|gasse|weg|platz|allee|straat|laan)\s+\d+"
    r"|^\s*(?:\d+,?\s+)?(?:rue|avenue|boulevard|chemin|calle|avenida|via|viale|piazza)\s+\w",
    re.IGNORECASE,
)
PO_BOX_OR_UNIT = re.compile(
    r"\b(?:p\.?\s?o\.?\s*box|post\s+office\s+box|postfach|apartado|bo[iî]te\s+postale|suite|ste\.?|"
    r"floor|fl\.|room|rm\.?|bldg\.?|building|mail\s*stop|ms)\s*#?\s*\d+\w*"
    r"|\b\d+(?:st|nd|rd|th)\s+floor\b",
    re.IGNORECASE,
)
_US_STATES = (
    r"AL|AK|AZ|AR|CA|CO|CT|DE|DC|FL|GA|HI|ID|IL|IN|IA|KS|KY|LA|ME|MD|MA|MI|MN|MS|MO|MT|NE|NV|NH|NJ|"
    r"NM|NY|NC|ND|OH|OK|OR|PA|RI|SC|SD|TN|TX|UT|VT|VA|WA|WV|WI|WY|AB|BC|MB|NB|NL|NS|ON|PE|QC|SK|"
    r"Alabama|Alaska|Arizona|Arkansas|California|Colorado|Connecticut|Delaware|Florida|Georgia|"
    r"Hawaii|Idaho|Illinois|Indiana|Iowa|Kansas|Kentucky|Louisiana|Maine|Maryland|Massachusetts|"
    r"Michigan|Minnesota|Mississippi|Missouri|Montana|Nebraska|Nevada|New\s+Hampshire|New\s+Jersey|"
    r"New\s+Mexico|New\s+York|North\s+Carolina|North\s+Dakota|Ohio|Oklahoma|Oregon|Pennsylvania|"
    r"Rhode\s+Island|South\s+Carolina|South\s+Dakota|Tennessee|Texas|Utah|Vermont|Virginia|"
    r"Washington|West\s+Virginia|Wisconsin|Wyoming|Alberta|Ontario|Quebec"
)
_ZIP = re.compile(r"\b\d{5}(?:-\d{4})?\b")
_STATE_BEFORE_ZIP = re.compile(r"(?:^|[\s,])(?:" + _US_STATES + r")\.?,?\s+$")
_OTHER_POSTCODES = re.compile(
    r"\b[A-Z]\d[A-Z]\s?\d[A-Z]\d\b"  # Canada: T2P 3N9
    r"|\b[A-Z]{1,2}\d[A-Z\d]?\s+\d[A-Z]{2}\b"  # UK: SW1A 1AA
    # "75008 Paris", "D-10115 Berlin"
    r"|^\s*(?:[A-Z]{1,2}-)?\d{4,5}\s+[A-ZÀ-Ý][\w'.-]+(?:\s+[A-ZÀ-Ý][\w'.-]+)?(?:\s+(?:cedex|CEDEX)\s*\d*)?\s*$",
)


def is_city_state_zip(text: str) -> bool:
    """"Houston, TX 77002", "Portland, Oregon 97204-1234", "T2P 3N9", "75008 Paris"."""
    for m in _ZIP.finditer(text):
        if _STATE_BEFORE_ZIP.search(text[max(0, m.start() - 24) : m.start()]):
            return True
    return bool(_OTHER_POSTCODES.search(text))


COUNTRY_LINE = re.compile(
    r"^\s*(?:usa|u\.s\.a\.|united\s+states(?:\s+of\s+america)?|canada|united\s+kingdom|uk|england|"
    r"france|germany|deutschland|spain|españa|italy|italia|netherlands|nederland|belgium|belgique|"
    r"switzerland|schweiz|suisse|austria|österreich|ireland|australia|mexico|méxico|brazil|brasil)\.?\s*$",
    re.IGNORECASE,
)

CREDENTIALS = frozenset(
    "cfa cpa phd ph.d ph.d. mba esq esq. jd j.d. md m.d. pe p.e. pmp cissp frcs msc bsc ba ma ll.m "
    "jr jr. sr sr. ii iii iv".split()
)
