"""A case's entries and reads as a family reads them: what each entry is called, its details
under plain labels, dates in the reader's language (Babel's CLDR data), countries and
organisations by name, and codes (ids) set apart as reference numbers."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from babel import Locale
from babel.dates import format_date, format_datetime

from ledger.access_rules import AccessRules
from services.http.pages.family_words import TEXT
from services.reading import MANDATE_REASON, Dossier, Entry, ReadEntry

__all__ = ["EVENTS", "Shown", "ShownRead", "Words"]

_UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")

EVENTS = {
    "es": {
        "CaseReported": "Denuncia de la desaparición",
        "ComprehensiveDataAdded": "Datos para reconocerle",
        "SightingRecorded": "Alguien le vio",
        "DataAmended": "Corrección",
        "ConsentGranted": "Permiso dado",
        "ConsentWithdrawn": "Permiso retirado",
        "SharingWithheld": "No se comparte con un país",
        "CasesLinked": "Otro caso podría ser la misma persona",
        "CasesJudgedDistinct": "Otro caso es de otra persona",
        "PersonLocatedAlive": "Encontrada con vida",
        "BestInterestsDetermined": "Decisión para proteger a un menor",
        "IdentificationConfirmed": "Identificación",
        "IdentificationRevised": "Identificación revisada",
        "FamilyNotified": "Aviso a la familia",
        "CaseClosed": "Caso cerrado",
        "CaseReopened": "Caso abierto de nuevo",
        "DataErased": "Datos borrados",
        "InquirySent": "Pregunta enviada",
        "InquiryAnswered": "Respuesta recibida",
        "SupportReferred": "Apoyo ofrecido",
        "SupportProvided": "Apoyo dado",
        "UpdateCadenceSet": "Noticias prometidas",
        "LinkageCandidateFound": "Posible coincidencia en otro país",
        "DisclosureRequested": "Pedimos datos a otro país",
        "DisclosureDecided": "Respuesta a un pedido de otro país",
        "FamilyUpdateGiven": "Noticias dadas",
        "NotificationPlanned": "Aviso preparado",
        "ProtectionRiskFlagged": "Tratar con cuidado",
    },
    "en": {
        "CaseReported": "Missing person report",
        "ComprehensiveDataAdded": "Details to recognise them",
        "SightingRecorded": "Someone saw them",
        "DataAmended": "Correction",
        "ConsentGranted": "Permission given",
        "ConsentWithdrawn": "Permission withdrawn",
        "SharingWithheld": "Not shared with a country",
        "CasesLinked": "Another case may be the same person",
        "CasesJudgedDistinct": "Another case is someone else",
        "PersonLocatedAlive": "Found alive",
        "BestInterestsDetermined": "Decision to protect a minor",
        "IdentificationConfirmed": "Identification",
        "IdentificationRevised": "Identification reviewed",
        "FamilyNotified": "Family informed",
        "CaseClosed": "Case closed",
        "CaseReopened": "Case opened again",
        "DataErased": "Data erased",
        "InquirySent": "Inquiry sent",
        "InquiryAnswered": "Answer received",
        "SupportReferred": "Support offered",
        "SupportProvided": "Support given",
        "UpdateCadenceSet": "News promised",
        "LinkageCandidateFound": "Possible match in another country",
        "DisclosureRequested": "Details asked of another country",
        "DisclosureDecided": "Another country's request answered",
        "FamilyUpdateGiven": "News given",
        "NotificationPlanned": "Notification prepared",
        "ProtectionRiskFlagged": "Handle with care",
    },
}

# Labels by the field's last name (its section adds nothing a family needs), Spanish then English.
_LABELS: dict[str, tuple[str, str]] = {
    "given_names": ("Nombres", "Given names"),
    "first_surname": ("Primer apellido", "First surname"),
    "second_surname": ("Segundo apellido", "Second surname"),
    "father_name": ("Nombre del padre", "Father's name"),
    "mother_name": ("Nombre de la madre", "Mother's name"),
    "aliases": ("También le llaman", "Also called"),
    "sex": ("Sexo", "Sex"),
    "nationalities": ("Nacionalidad", "Nationality"),
    "date_of_birth": ("Fecha de nacimiento", "Date of birth"),
    "age_range": ("Edad aproximada", "Approximate age"),
    "minimum": ("desde", "from"),
    "maximum": ("hasta", "to"),
    "physical_description": ("Cómo es", "What they look like"),
    "origin": ("De dónde es", "Where they are from"),
    "id_documents": ("Documentos", "Documents"),
    "country": ("País", "Country"),
    "place": ("Lugar", "Place"),
    "route": ("Ruta", "Route"),
    "date": ("Fecha", "Date"),
    "coordinates": ("Punto en el mapa", "Point on the map"),
    "latitude": ("latitud", "latitude"),
    "longitude": ("longitud", "longitude"),
    "source": ("Quién lo contó", "Who told it"),
    "source_reliability": ("Qué tan seguro es", "How sure it is"),
    "seen_on": ("Día en que le vieron", "Day they were seen"),
    "description": ("Descripción", "Description"),
    "dental": ("Dientes", "Teeth"),
    "medical": ("Salud", "Health"),
    "marks": ("Señas particulares", "Distinguishing marks"),
    "clothing": ("Ropa", "Clothing"),
    "belongings": ("Pertenencias", "Belongings"),
    "stature_cm": ("Estatura (cm)", "Height (cm)"),
    "build": ("Complexión", "Build"),
    "hair": ("Cabello", "Hair"),
    "eyes": ("Ojos", "Eyes"),
    "body_marks": ("Marcas en el cuerpo", "Marks on the body"),
    "kind": ("tipo", "kind"),
    "body_site": ("dónde", "where"),
    "teeth": ("Dientes", "Teeth"),
    "tooth": ("diente", "tooth"),
    "condition": ("estado", "condition"),
    "medical_findings": ("Datos médicos", "Medical details"),
    "effects": ("Objetos", "Belongings"),
    "category": ("qué", "what"),
    "colour": ("color", "colour"),
    "brand": ("marca", "brand"),
    "text": ("texto", "text"),
    "serial": ("número de serie", "serial number"),
    "changes": ("Cambios", "Changes"),
    "field": ("dato", "what"),
    "value": ("ahora dice", "now says"),
    "reason": ("Motivo", "Reason"),
    "consent_purpose": ("Para qué", "What for"),
    "consented_purposes": ("Permisos dados", "Permissions given"),
    "given_by": ("Lo dio", "Given by"),
    "withdrawn_by": ("Lo retiró", "Withdrawn by"),
    "explained_by": ("Se lo explicó", "Explained by"),
    "consent_explained_by": ("Se lo explicó", "Explained by"),
    "language": ("Idioma", "Language"),
    "consent_language": ("Idioma", "Language"),
    "family_contacts": ("Contactos de la familia", "Family contacts"),
    "name": ("nombre", "name"),
    "relationship": ("parentesco", "relationship"),
    "phone": ("teléfono", "phone"),
    "email": ("correo", "e-mail"),
    "address": ("dirección", "address"),
    "circumstances": ("Qué pasó", "What happened"),
    "withheld_from_countries": ("No se comparte con", "Not shared with"),
    "countries": ("Países", "Countries"),
    "outcome": ("Resultado", "Outcome"),
    "means": ("Cómo se avisó", "How"),
    "whereabouts_shared": ("Se dijo dónde está", "Whereabouts shared"),
    "status": ("Situación", "Status"),
    "basis": ("Por qué", "Why"),
    "decision": ("Decisión", "Decision"),
    "agrees_to_share": ("Acepta que se diga dónde está", "Agrees to share whereabouts"),
    "number": ("número", "number"),
    "issuing_country": ("país", "country"),
    "photo": ("Foto", "Photo"),
    "other_case": ("Otro caso", "Other case"),
    "match": ("Comparación", "Comparison"),
    "remains": ("Restos", "Remains"),
    "sample": ("Muestra", "Sample"),
}

# Words of the vocabulary a family page shows; the rest read with spaces for underscores.
_WORDS: dict[str, tuple[str, str]] = {
    "female": ("mujer", "woman"),
    "male": ("hombre", "man"),
    "intersex": ("intersexual", "intersex"),
    "unknown": ("no se sabe", "not known"),
    "family": ("la familia", "the family"),
    "witness": ("un testigo", "a witness"),
    "survivor": ("una persona sobreviviente", "a survivor"),
    "shelter": ("un albergue", "a shelter"),
    "official": ("una autoridad", "an official"),
    "press": ("la prensa", "the press"),
    "social_media": ("redes sociales", "social media"),
    "confirmed": ("confirmado", "confirmed"),
    "high": ("bastante seguro", "fairly sure"),
    "medium": ("algo seguro", "somewhat sure"),
    "low": ("poco seguro", "not very sure"),
    "unverified": ("sin comprobar", "not checked"),
    "mother": ("madre", "mother"),
    "father": ("padre", "father"),
    "in_person": ("en persona", "in person"),
    "video_call": ("videollamada", "video call"),
    "letter": ("carta", "letter"),
    "through_consulate": ("por el consulado", "through the consulate"),
    "scar": ("cicatriz", "scar"),
    "tattoo": ("tatuaje", "tattoo"),
    "gold": ("de oro", "gold"),
    "crown": ("corona", "crown"),
    "jacket": ("chamarra", "jacket"),
    "red": ("rojo", "red"),
    "left_lower_leg": ("pierna izquierda, abajo", "left lower leg"),
    "withdrawn_by_family": ("la familia lo pidió", "the family asked"),
    "reported_in_error": ("se denunció por error", "reported in error"),
}


@dataclass(frozen=True)
class Shown:
    """One entry of the case as the family page shows it."""

    title: str
    when: str
    who: str
    details: list[tuple[str, str]]
    references: list[tuple[str, str]] = field(default_factory=list)
    protected: bool = False


@dataclass(frozen=True)
class ShownRead:
    when: str
    who: str
    purpose: str
    saw: str  # what they saw, or that they were refused
    mandate: str | None


class Words:
    """Everything the family page says, in one language, with the network's names."""

    def __init__(self, lang: str, rules: AccessRules | None) -> None:
        self.lang, self.rules, self.t = lang, rules, TEXT[lang]
        self._locale = Locale(lang)
        self._index = 0 if lang == "es" else 1

    def day(self, value: date | datetime) -> str:
        return format_date(value, "long", locale=self.lang)

    def moment(self, value: datetime) -> str:
        return format_datetime(value, "d MMM y, HH:mm", tzinfo=value.tzinfo, locale=self.lang)

    def status(self, status: str) -> str:
        base, _, _ = status.partition(",")
        erased = " · " + self.t["status_words"]["erased"] if "erased" in status and base != "erased" else ""
        return str(self.t["status_words"].get(base, base.replace("_", " "))) + erased

    def organisation(self, organisation: str) -> str:
        if organisation.startswith("family:"):
            return str(self.t["you"])
        known = self.rules.organisations.get(organisation) if self.rules else None
        return known.name if known is not None else organisation

    def country(self, code: str) -> str:
        return str(self._locale.territories.get(code, code))

    def word(self, value: str) -> str:
        if value in self.t["purposes"]:
            return str(self.t["purposes"][value])
        if value in self.t["status_words"]:
            return str(self.t["status_words"][value]).lower()
        if value in _WORDS:
            return _WORDS[value][self._index]
        return value.replace("_", " ")

    def label(self, name: str) -> str:
        found = _LABELS.get(name)
        return found[self._index] if found else name.replace("_", " ").capitalize()

    def value(self, name: str, value: Any) -> str:
        if isinstance(value, bool):
            return str(self.t["yes"] if value else self.t["no"])
        if isinstance(value, datetime | date):
            return self.day(value)
        if isinstance(value, str):
            if name in ("country", "issuing_country") or (
                name in ("nationalities", "countries") and len(value) == 2
            ):
                return self.country(value)
            if name in ("language", "consent_language"):
                return str(self._locale.languages.get(value, value))
            if name in ("date", "seen_on", "date_of_birth") and re.fullmatch(r"\d{4}-\d{2}-\d{2}", value):
                return self.day(date.fromisoformat(value))
            if name == "field":
                return TEXT[self.lang]["amendable"].get(value) or self.label(value.rsplit(".", 1)[-1])
            if value.startswith("["):  # a corrected list, as the ledger keeps it
                return value.strip("[]").replace('"', "")
            return self.word(value) if re.fullmatch(r"[a-z_]+", value) else value
        if isinstance(value, Mapping):
            parts = [f"{self.label(k)} {self.value(k, v)}" for k, v in value.items() if _present(v)]
            return ", ".join(parts)
        if isinstance(value, list | tuple):
            return "; ".join(self.value(name, v) for v in value if _present(v))
        return str(value)

    def entry(self, entry: Entry) -> Shown:
        details: list[tuple[str, str]] = []
        references: list[tuple[str, str]] = []

        def walk(fields: Mapping[str, Any]) -> None:
            for name, value in fields.items():
                if not _present(value):
                    continue
                if isinstance(value, str) and _UUID.match(value):
                    references.append((self.label(name.removesuffix("_id")), value))
                elif isinstance(value, Mapping) and name in ("person", "last_seen", "place"):
                    walk(value)
                else:
                    details.append((self.label(name), self.value(name, value)))

        walk(entry.fields)
        return Shown(
            title=EVENTS[self.lang].get(entry.event_type, entry.event_type),
            when=self.day(getattr(entry, "happened", entry.occurred_at)),  # the day seen, where it says
            who=self.organisation(entry.recorded_by["organisation"]),
            details=details,
            references=references,
            protected=bool(entry.protected),
        )

    def read(self, read: ReadEntry) -> ShownRead:
        if read.outcome == "granted":
            tiers = [self.t["tiers"][t] for t in read.tiers if t in self.t["tiers"]]
            saw = f"{self.t['read_saw']} " + ", ".join(tiers) if tiers else self.t["read_saw"]
        else:
            saw = self.t["read_refused"]
        mandate = None
        if read.reason.startswith(MANDATE_REASON):
            mandate = read.reason.removeprefix(MANDATE_REASON).split(" (")[0]
        return ShownRead(
            self.moment(read.at), self.organisation(read.organisation), self.word(read.purpose), saw, mandate
        )

    def reads(self, dossier: Dossier) -> tuple[list[ShownRead], str | None]:
        """Others' reads, newest first, and one line for the family's own visits."""
        own = [r for r in dossier.reads if r.organisation.startswith("family:")]
        others = [
            self.read(r) for r in sorted(dossier.reads, key=lambda r: r.at, reverse=True) if r not in own
        ]
        line = None
        if own:
            last = self.moment(max(r.at for r in own))
            line = (
                self.t["own_visit"].format(last=last)
                if len(own) == 1
                else self.t["own_visits"].format(count=len(own), last=last)
            )
        return others, line

    def mandates(self) -> list[str]:
        if self.rules is None:
            return []
        return [
            self.t["mandate_line"].format(
                organisation=self.organisation(m.organisation), purpose=self.word(p), mandate=m.name
            )
            for m in self.rules.mandates
            for p in sorted(m.purposes)
        ]


def _present(value: Any) -> bool:
    return value not in (None, "", [], {}, ())
