"""Starter mapping files and sample files for `caseledger import --template reports|remains`:
a shelter's spreadsheet in Spanish, as such registries are kept, and how it maps."""

from __future__ import annotations

__all__ = ["REMAINS_MAPPING", "REMAINS_SAMPLE", "REPORTS_MAPPING", "REPORTS_SAMPLE", "TEMPLATES"]

REPORTS_MAPPING = """\
# caseledger import mapping: reports (missing persons). Edit the column names on the left
# to match your file's header; fields on the right are caseledger's (`caseledger report --help`).
kind = "reports"
source = "albergue-ejemplo"    # your registry's name: with each row's reference it names the record
reference = "Folio"            # the column holding your registry's own id for each person
date_format = "%d/%m/%Y"       # how dates are written (day/month/year here)
list_separator = ";"           # between several nationalities or aliases in one cell
# encoding = "cp1252"          # a CSV saved by Excel as Windows-1252 (default UTF-8)
# sheet = "Casos"              # an XLSX file's sheet (default the first)

[columns]
"Nombres" = "given_names"
"Primer apellido" = "first_surname"
"Segundo apellido" = "second_surname"
"Alias" = "aliases"
"Sexo" = "sex"
"Fecha de nacimiento" = "date_of_birth"
"Nacionalidad" = "nationalities"
"Fecha en que se le vio" = "last_seen_date"
"País donde se le vio" = "last_seen_country"
"Lugar" = "last_seen_place"
"Ruta" = "route"
"Contacto familiar" = "family_contacts.0.name"
"Parentesco" = "family_contacts.0.relationship"
"Teléfono" = "family_contacts.0.phone"
"Circunstancias" = "circumstances"

[values]
nationalities = "countries:es"        # country names in Spanish (or English) -> ISO codes
last_seen_country = "countries:es"

[values.sex]
"M" = "male"
"Masculino" = "male"
"H" = "male"
"Hombre" = "male"
"F" = "female"
"Femenino" = "female"
"Mujer" = "female"
"ND" = "unknown"

[constants]                          # the same for every row
source = "shelter"
consented_purposes = ["search"]      # only if every family consented; else leave it out
consent_explained_by = "Albergue Ejemplo: equipo de registro"
consent_language = "es"
"""

REPORTS_SAMPLE = """\
Folio,Nombres,Primer apellido,Segundo apellido,Alias,Sexo,Fecha de nacimiento,Nacionalidad,\
Fecha en que se le vio,País donde se le vio,Lugar,Ruta,Contacto familiar,Parentesco,Teléfono,Circunstancias
A-0001,José Ángel,Hernández,Núñez,Chepe,Masculino,11/02/2004,Honduras,14/03/2026,México,\
"Tenosique, Tabasco",Corinto – Tenosique,Gloria Hernández,madre,+504 5555 0177,Salió del albergue de madrugada
A-0002,María José,López,Chávez,,F,30/07/1999,Guatemala,03/02/2026,México,"Arriaga, Chiapas",\
Tecún Umán – Arriaga,Rosa Chávez,madre,+502 5555 0101,
"""

REMAINS_MAPPING = """\
# caseledger import mapping: remains. Edit the column names on the left to match your file.
kind = "remains"
source = "semefo-ejemplo"      # your registry's name
reference = "Expediente"       # the column holding your registry's own id for each body
date_format = "%d/%m/%Y"

[columns]
"Fecha de hallazgo" = "recovered_on"
"País" = "place.country"
"Lugar" = "place.place"
"Contexto" = "context"
"Número de expediente" = "file_number"
"Circunstancias" = "circumstances"

[values]
"place.country" = "countries:es"

[values.context]
"Desierto" = "desert"
"Río" = "river"
"Mar" = "sea"
"Vía férrea" = "railway"
"Camino" = "road"
"""

REMAINS_SAMPLE = """\
Expediente,Fecha de hallazgo,País,Lugar,Contexto,Número de expediente,Circunstancias
SEMEFO-2026-001,02/01/2026,México,"Altar, Sonora",Desierto,AP/PGR/SON/001/2026,Hallado por patrulla
SEMEFO-2026-002,15/01/2026,México,"Piedras Negras, Coahuila",Río,AP/PGR/COA/002/2026,
"""

TEMPLATES = {
    "reports": (REPORTS_MAPPING, REPORTS_SAMPLE),
    "remains": (REMAINS_MAPPING, REMAINS_SAMPLE),
}
