"""Small built-in word lists the demo data is drawn from.

Realistic-looking values without a dependency such as Faker: the generator combines these
lists, so a few hundred words give hundreds of thousands of distinct companies.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = [
    "ADDRESS_LINE_2",
    "COMPANY_INDUSTRIES",
    "COMPANY_PREFIXES",
    "COMPANY_STEMS",
    "COMPANY_VARIANTS",
    "COUNTRIES",
    "FIRST_NAMES",
    "LAST_NAMES",
    "MIDDLE_NAMES",
    "STREETS",
    "City",
    "Country",
    "ascii_fold",
]


@dataclass(frozen=True)
class City:
    """A city with what addresses and phone numbers there look like."""

    name: str
    postcode: str
    """Template: ``#`` is a random digit, ``@`` a random capital letter."""
    area: str
    """Phone area code, '' where the country has none."""
    county: str = ""


@dataclass(frozen=True)
class Country:
    """A country: how its companies are named, written to and paid."""

    code: str
    weight: int
    """Relative share of customers based there."""
    legal_forms: tuple[str, ...]
    phone_prefix: str
    mobile_prefixes: tuple[str, ...]
    tld: str
    streets: str
    """Key into :data:`STREETS`."""
    currency: str
    """Currency of invoices to customers there; '' for the company's local currency."""
    cities: tuple[City, ...]


COUNTRIES: tuple[Country, ...] = (
    Country("DE", 30, ("GmbH", "GmbH", "AG", "KG", "GmbH & Co. KG"), "+49",
            ("151", "160", "170", "176"), "de", "de", "", (
        City("Berlin", "10###", "30"), City("Hamburg", "20###", "40"),
        City("München", "80###", "89"), City("Köln", "50###", "221"),
        City("Frankfurt am Main", "60###", "69"), City("Stuttgart", "70###", "711"),
        City("Düsseldorf", "40###", "211"), City("Leipzig", "04###", "341"),
        City("Dresden", "01###", "351"), City("Hannover", "30###", "511"))),
    Country("AT", 5, ("GmbH", "AG", "KG"), "+43", ("664", "676", "699"), "at", "de", "", (
        City("Wien", "1###", "1"), City("Graz", "8###", "316"), City("Linz", "4###", "732"),
        City("Salzburg", "5###", "662"), City("Innsbruck", "6###", "512"))),
    Country("CH", 5, ("AG", "GmbH", "SA"), "+41", ("76", "78", "79"), "ch", "de", "CHF", (
        City("Zürich", "80##", "44"), City("Basel", "40##", "61"), City("Bern", "30##", "31"),
        City("Genève", "12##", "22"), City("Lausanne", "10##", "21"))),
    Country("FR", 8, ("SARL", "SA", "SAS"), "+33", ("6", "7"), "fr", "fr", "", (
        City("Paris", "750##", "1"), City("Lyon", "690##", "4"), City("Marseille", "130##", "4"),
        City("Toulouse", "310##", "5"), City("Lille", "590##", "3"),
        City("Bordeaux", "330##", "5"), City("Nantes", "440##", "2"))),
    Country("BE", 4, ("NV", "SA", "BV"), "+32", ("470", "475", "495"), "be", "fr", "", (
        City("Bruxelles", "1###", "2"), City("Antwerpen", "2###", "3"),
        City("Gent", "9###", "9"), City("Liège", "4###", "4"))),
    Country("NL", 6, ("B.V.", "B.V.", "N.V."), "+31", ("6",), "nl", "nl", "", (
        City("Amsterdam", "10## @@", "20"), City("Rotterdam", "30## @@", "10"),
        City("Utrecht", "35## @@", "30"), City("Den Haag", "25## @@", "70"),
        City("Eindhoven", "56## @@", "40"))),
    Country("IT", 5, ("S.r.l.", "S.p.A."), "+39", ("320", "333", "347"), "it", "it", "", (
        City("Milano", "201##", "02"), City("Roma", "001##", "06"),
        City("Torino", "101##", "011"), City("Bologna", "401##", "051"),
        City("Firenze", "501##", "055"))),
    Country("ES", 5, ("S.L.", "S.A."), "+34", ("600", "650", "699"), "es", "es", "", (
        City("Madrid", "280##", "91"), City("Barcelona", "080##", "93"),
        City("Valencia", "460##", "96"), City("Sevilla", "410##", "95"),
        City("Bilbao", "480##", "94"))),
    Country("GB", 10, ("Ltd", "Ltd", "plc", "LLP"), "+44", ("7700", "7911", "7826"), "co.uk",
            "en", "GBP", (
        City("London", "EC# #@@", "20", "Greater London"),
        City("Manchester", "M# #@@", "161", "Greater Manchester"),
        City("Birmingham", "B# #@@", "121", "West Midlands"),
        City("Leeds", "LS# #@@", "113", "West Yorkshire"),
        City("Bristol", "BS# #@@", "117", "Bristol"),
        City("Edinburgh", "EH# #@@", "131", "Midlothian"),
        City("Glasgow", "G# #@@", "141", "Lanarkshire"))),
    Country("US", 12, ("Inc.", "LLC", "Corp."), "+1", ("201", "646", "917"), "com", "en",
            "USD", (
        City("New York", "100##", "212", "NY"), City("Chicago", "606##", "312", "IL"),
        City("Seattle", "981##", "206", "WA"), City("Boston", "021##", "617", "MA"),
        City("Austin", "787##", "512", "TX"), City("Denver", "802##", "303", "CO"),
        City("Atlanta", "303##", "404", "GA"), City("San Francisco", "941##", "415", "CA"))),
    Country("SE", 3, ("AB",), "+46", ("70", "72", "73"), "se", "nordic", "SEK", (
        City("Stockholm", "1## ##", "8"), City("Göteborg", "4## ##", "31"),
        City("Malmö", "2## ##", "40"), City("Uppsala", "75# ##", "18"))),
    Country("DK", 3, ("A/S", "ApS"), "+45", ("20", "40", "50"), "dk", "nordic", "DKK", (
        City("København", "1###", ""), City("Aarhus", "8###", ""),
        City("Odense", "5###", ""), City("Aalborg", "9###", ""))),
    Country("NO", 2, ("AS", "ASA"), "+47", ("4", "9"), "no", "nordic", "NOK", (
        City("Oslo", "0###", ""), City("Bergen", "50##", ""),
        City("Trondheim", "70##", ""), City("Stavanger", "40##", ""))),
    Country("PL", 4, ("Sp. z o.o.", "S.A."), "+48", ("501", "601", "790"), "pl", "pl", "PLN", (
        City("Warszawa", "00-###", "22"), City("Kraków", "30-###", "12"),
        City("Wrocław", "50-###", "71"), City("Gdańsk", "80-###", "58"),
        City("Poznań", "60-###", "61"))),
)  # fmt: skip

STREETS: dict[str, tuple[bool, tuple[str, ...]]] = {
    # whether the house number comes first ("12 High Street"), street names
    "de": (False, ("Hauptstraße", "Bahnhofstraße", "Gartenweg", "Industriestraße",
                       "Lindenallee", "Schillerstraße", "Goethestraße", "Am Markt",
                       "Mühlenweg", "Berliner Straße")),
    "en": (True, ("High Street", "Station Road", "Church Lane", "Park Avenue",
                       "Mill Road", "King Street", "Market Street", "Oak Drive",
                       "Main Street", "Victoria Road")),
    "fr": (True, ("rue de la Paix", "avenue Victor Hugo", "boulevard Voltaire",
                       "rue du Commerce", "place de la République", "rue des Lilas",
                       "chemin des Vignes")),
    "nl": (False, ("Keizersgracht", "Stationsstraat", "Dorpsstraat", "Kerkstraat",
                       "Molenweg", "Industrieweg")),
    "it": (False, ("Via Roma", "Via Garibaldi", "Corso Italia", "Via Dante",
                       "Piazza Verdi", "Via Milano")),
    "es": (False, ("Calle Mayor", "Gran Vía", "Avenida de la Constitución",
                       "Calle del Sol", "Paseo de Gracia")),
    "nordic": (False, ("Storgatan", "Kungsgatan", "Drottninggatan", "Strandvejen",
                           "Nørregade", "Karl Johans gate")),
    "pl": (False, ("ul. Marszałkowska", "ul. Długa", "ul. Polna", "ul. Kwiatowa",
                       "al. Jerozolimskie")),
}  # fmt: skip

ADDRESS_LINE_2: tuple[str, ...] = ("Building", "Floor", "Suite", "Unit", "Gate", "Hall")
"""Second address lines, followed by a number."""

# Company names are "<prefix><stem> <industry> [<variant>] <legal form>"; every
# (prefix, stem, industry, variant) tuple spells a different name.
COMPANY_PREFIXES: tuple[str, ...] = (
    "Nord", "Alpen", "Blue", "Silver", "Green", "Red", "Oak", "Pine", "River", "Lake",
    "Stone", "Iron", "Sun", "Star", "North", "West", "East", "Bright", "Clear", "Swift",
    "Prime", "Nova", "Terra", "Aqua", "Falcon", "Eagle", "Lion", "Fox", "Wolf", "Cedar",
    "Maple", "Birch", "Harbor", "Summit", "Valley", "Crown", "Atlas", "Orion", "Delta", "Gold",
)  # fmt: skip
COMPANY_STEMS: tuple[str, ...] = (
    "wind", "field", "bridge", "gate", "line", "point", "way", "works", "mark", "tech",
    "soft", "port", "land", "ridge", "brook", "hill", "dale", "ford", "haven", "light",
    "wood", "crest", "view", "bay", "peak", "side", "mont", "berg", "rock", "shore",
)  # fmt: skip
COMPANY_INDUSTRIES: tuple[str, ...] = (
    "Logistics", "Trading", "Consulting", "Systems", "Industries", "Foods", "Textiles",
    "Engineering", "Pharma", "Electronics", "Furniture", "Energy", "Media", "Construction",
    "Instruments", "Chemicals", "Automotive", "Retail", "Software", "Packaging", "Metals",
    "Design", "Solutions", "Bakeries", "Outdoor",
)  # fmt: skip
COMPANY_VARIANTS: tuple[str, ...] = (
    "", "Group", "International", "Partners", "Holding", "Europe", "Services", "Digital",
)  # fmt: skip

FIRST_NAMES: tuple[str, ...] = (
    "Anna", "Lukas", "Sophie", "Max", "Emma", "Jonas", "Laura", "Felix", "Marie", "Paul",
    "Julia", "Leon", "Clara", "David", "Sarah", "Thomas", "Nina", "Michael", "Lena", "Daniel",
    "Olivia", "James", "Charlotte", "William", "Amelia", "Oliver", "Chloé", "Louis", "Camille",
    "Hugo", "Giulia", "Marco", "Lucía", "Javier", "Elin", "Lars", "Ingrid", "Magnus", "Zofia",
    "Piotr", "Sven", "Astrid", "Émile", "Jürgen", "Søren", "Fatima", "Mehmet", "Aylin",
)  # fmt: skip
MIDDLE_NAMES: tuple[str, ...] = (
    "Maria", "J.", "Alexander", "Louise", "Marie", "Johan", "Anne", "Peter", "K.", "Elisabeth",
)  # fmt: skip
LAST_NAMES: tuple[str, ...] = (
    "Müller", "Schmidt", "Schneider", "Fischer", "Weber", "Meyer", "Wagner", "Becker",
    "Hoffmann", "Koch", "Smith", "Jones", "Taylor", "Brown", "Williams", "Wilson", "Johnson",
    "Miller", "Davis", "Martin", "Bernard", "Dubois", "Moreau", "Laurent", "Rossi", "Russo",
    "Bianchi", "García", "Fernández", "López", "de Vries", "Jansen", "Bakker", "Andersson",
    "Johansson", "Nielsen", "Hansen", "Larsen", "Kowalski", "Nowak", "Wiśniewski", "Peeters",
    "Janssens", "Keller", "Huber", "Yılmaz", "O'Brien", "Novák",
)  # fmt: skip

_FOLD = str.maketrans({
    "ä": "ae", "ö": "oe", "ü": "ue", "ß": "ss", "é": "e", "è": "e", "á": "a", "í": "i",
    "ó": "o", "ú": "u", "ñ": "n", "å": "a", "ø": "o", "æ": "ae", "ł": "l", "ś": "s",
    "ń": "n", "ı": "i", " ": "", "'": "", "-": "",
})  # fmt: skip


def ascii_fold(text: str) -> str:
    """Lower-case ASCII form of a name, as used in e-mail addresses and domains."""
    return text.lower().translate(_FOLD)
