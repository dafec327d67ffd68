"""The words of the family pages, in Spanish and English: sentences, statuses, what each
consent means, and what each kind of entry of a case is called. Plain language for a family
reading on a phone: no field names, no codes, no values as a program writes them.
(services/http/pages/family_view.py turns a case's entries into these words.)"""

from __future__ import annotations

from typing import Any

__all__ = ["AMENDABLE", "COURSE", "LANGUAGES", "TEXT"]

LANGUAGES = ("es", "en")

TEXT: dict[str, dict[str, Any]] = {
    "es": {
        "title": "Su caso",
        "login_title": "Entrar para ver su caso",
        "login_intro": "Escriba el código que le dio la persona que lleva su caso. Son 10 letras y "
        "números; los guiones y espacios no importan. Cada visita queda anotada.",
        "token": "Código",
        "code_hint": "Por ejemplo: ACDEF-HJKMN",
        "sign_in": "Entrar",
        "sign_out": "Salir",
        "other_language": "English",
        "other_language_name": "Read in English",
        "intro": "Aquí está todo lo que se guarda sobre su familiar, quién lo anotó y quién lo consultó.",
        "about": "Sobre",
        "status": "Situación del caso",
        "held": "Lo que se ha anotado",
        "recorded_by": "Lo anotó",
        "references": "Números de referencia (por si se los piden)",
        "who_read": "Quién consultó su caso",
        "who_read_intro": "Cada vez que otra organización abre los datos de su caso, aparece aquí.",
        "nobody_read": "Nadie más ha consultado su caso todavía.",
        "read_for": "para",
        "read_saw": "vio",
        "read_refused": "se le negó el acceso",
        "by_mandate": "Lo hizo sin su permiso porque la ley se lo permite:",
        "own_visits": "Ustedes han entrado {count} veces; la última, el {last}.",
        "own_visit": "Ustedes han entrado una vez, el {last}.",
        "correct": "Corregir un dato",
        "field": "Qué dato",
        "new_value": "Cómo debe decir",
        "reason": "Por qué lo corrige",
        "send_correction": "Enviar la corrección",
        "consents": "Sus permisos",
        "consents_intro": "Usted decide para qué se puede usar la información de su caso. Puede "
        "cambiarlo cuando quiera.",
        "given": "Permitido",
        "not_given": "No permitido",
        "on_behalf": "Lo dio en su nombre:",
        "grant": "Permitir",
        "withdraw": "Retirar el permiso",
        "mandates_title": "Lo que la ley permite sin su permiso",
        "mandate_line": "{organisation} puede consultar su caso para {purpose}, por ley: {mandate}. "
        "Cada consulta aparece en la lista de arriba.",
        "erase_title": "Borrar sus datos",
        "erase_intro": "Si pide el borrado, las claves que protegen sus datos se destruyen en todos los "
        "países; lo que se compartió no se podrá leer más. No se puede deshacer.",
        "erase_confirm": "Entiendo que no se puede deshacer",
        "erase_button": "Pedir el borrado",
        "confirm_first": "Marque la casilla para confirmar el borrado.",
        "amended": "Su corrección quedó registrada. El dato anterior se conserva en el historial.",
        "granted_notice": "Permiso anotado.",
        "withdrawn_notice": "Permiso retirado. Ya no se compartirá para eso.",
        "erased_notice": "Sus datos fueron borrados.",
        "bad_token": "Ese código no abre ningún caso. Revíselo o pida uno nuevo a quien lleva su caso.",
        "form_expired": "La página había caducado: vuelva a entrar.",
        "throttled": "Demasiados intentos fallidos: vuelva a intentarlo en {minutes} minutos.",
        "protected": "Parte de esto se reserva para proteger a una persona.",
        "you": "Usted o su familia",
        "back": "Volver a su caso",
        "yes": "sí",
        "no": "no",
        "purposes": {
            "search": "buscar a su familiar",
            "forensic_identification": "identificar a personas fallecidas",
            "family_support": "apoyar a su familia",
            "accountability": "investigar y rendir cuentas",
            "statistics": "hacer estadísticas",
        },
        "consent_means": {
            "search": "Las organizaciones que buscan personas en otros países pueden ver el nombre, la foto "
            "y dónde se le vio por última vez, para buscarle.",
            "forensic_identification": "Los servicios forenses pueden comparar los datos de su familiar "
            "con los de personas fallecidas que nadie ha identificado.",
            "family_support": "Los consulados y las organizaciones de apoyo pueden ver el caso para "
            "acompañarles y avisarles de lo que se sepa.",
            "accountability": "Las comisiones y fiscalías pueden revisar todo el caso para investigar "
            "qué pasó y quién hizo qué.",
        },
        "tiers": {
            "common": "el nombre y los datos para buscar",
            "reserved": "los contactos y datos reservados",
            "forensic": "los datos forenses",
            "genetic": "los datos genéticos",
        },
        "status_words": {
            "missing": "Se sigue buscando",
            "located_alive": "Encontrada con vida",
            "identified_deceased": "Identificada sin vida",
            "closed": "Caso cerrado",
            "erased": "Datos borrados",
        },
    },
    "en": {
        "title": "Your case",
        "login_title": "Sign in to see your case",
        "login_intro": "Type the code the person who handles your case gave you. It is 10 letters and "
        "numbers; dashes and spaces do not matter. Every visit is noted.",
        "token": "Code",
        "code_hint": "For example: ACDEF-HJKMN",
        "sign_in": "Sign in",
        "sign_out": "Sign out",
        "other_language": "Español",
        "other_language_name": "Leer en español",
        "intro": "Here is everything kept about your relative, who noted it down and who looked at it.",
        "about": "About",
        "status": "Where the case stands",
        "held": "What has been noted",
        "recorded_by": "Noted by",
        "references": "Reference numbers (in case you are asked)",
        "who_read": "Who looked at your case",
        "who_read_intro": "Every time another organisation opens your case's data, it shows here.",
        "nobody_read": "Nobody else has looked at your case yet.",
        "read_for": "to",
        "read_saw": "saw",
        "read_refused": "was refused",
        "by_mandate": "They did so without your permission because the law allows it:",
        "own_visits": "You have visited {count} times; the last on {last}.",
        "own_visit": "You have visited once, on {last}.",
        "correct": "Correct something",
        "field": "What to correct",
        "new_value": "What it should say",
        "reason": "Why",
        "send_correction": "Send the correction",
        "consents": "Your permissions",
        "consents_intro": "You decide what the information about your case may be used for. You "
        "can change it at any time.",
        "given": "Allowed",
        "not_given": "Not allowed",
        "on_behalf": "Given on your behalf by:",
        "grant": "Allow",
        "withdraw": "Withdraw permission",
        "mandates_title": "What the law allows without your permission",
        "mandate_line": "{organisation} may look at your case to {purpose}, by law: {mandate}. "
        "Every time it does shows in the list above.",
        "erase_title": "Erase your data",
        "erase_intro": "If you ask for erasure, the keys that protect your data are destroyed in every "
        "country; what was shared can no longer be read. This cannot be undone.",
        "erase_confirm": "I understand this cannot be undone",
        "erase_button": "Ask for erasure",
        "confirm_first": "Tick the box to confirm the erasure.",
        "amended": "Your correction is noted. The earlier value stays in the history.",
        "granted_notice": "Permission noted.",
        "withdrawn_notice": "Permission withdrawn. It will no longer be shared for that.",
        "erased_notice": "Your data has been erased.",
        "bad_token": "That code does not open a case. Check it, or ask the person who "
        "handles your case for a new one.",
        "form_expired": "The page had expired: sign in again.",
        "throttled": "Too many failed attempts: try again in {minutes} minutes.",
        "protected": "Part of this is not shown, to protect a person.",
        "you": "You or your family",
        "back": "Back to your case",
        "yes": "yes",
        "no": "no",
        "purposes": {
            "search": "search for your relative",
            "forensic_identification": "identify people who have died",
            "family_support": "support your family",
            "accountability": "investigate and hold people to account",
            "statistics": "make statistics",
        },
        "consent_means": {
            "search": "Organisations searching for people in other countries may see the name, the photo "
            "and where your relative was last seen, to look for them.",
            "forensic_identification": "Forensic services may compare your relative's details with those "
            "of people who died and have not been identified.",
            "family_support": "Consulates and support organisations may see the case to stand by you "
            "and tell you what becomes known.",
            "accountability": "Commissions and prosecutors may review the whole case to investigate "
            "what happened and who did what.",
        },
        "tiers": {
            "common": "the name and the details used to search",
            "reserved": "contacts and reserved details",
            "forensic": "forensic details",
            "genetic": "genetic details",
        },
        "status_words": {
            "missing": "Still being searched for",
            "located_alive": "Found alive",
            "identified_deceased": "Identified as deceased",
            "closed": "Case closed",
            "erased": "Data erased",
        },
    },
}

AMENDABLE = {
    "es": {
        "person.given_names": "Nombres",
        "person.first_surname": "Primer apellido",
        "person.second_surname": "Segundo apellido",
        "person.father_name": "Nombre del padre",
        "person.mother_name": "Nombre de la madre",
        "person.physical_description": "Cómo es físicamente",
        "last_seen.place": "Dónde se le vio por última vez",
        "last_seen.route": "Por qué ruta viajaba",
        "circumstances": "Qué pasó",
    },
    "en": {
        "person.given_names": "Given names",
        "person.first_surname": "First surname",
        "person.second_surname": "Second surname",
        "person.father_name": "Father's name",
        "person.mother_name": "Mother's name",
        "person.physical_description": "What they look like",
        "last_seen.place": "Where they were last seen",
        "last_seen.route": "The route they were travelling",
        "circumstances": "What happened",
    },
}
for _lang in LANGUAGES:
    TEXT[_lang]["amendable"] = AMENDABLE[_lang]

# The course of the search (#17): who was asked, the support offered, when news is due.
COURSE = {
    "es": {
        "course": "Su búsqueda",
        "next_news": "Tendrá noticias a más tardar el {due}, de {focal_point}.",
        "news_late": "Las noticias prometidas para el {due} no han llegado: "
        "puede reclamarlas a {focal_point}.",
        "asked": "Preguntas hechas",
        "asked_line": "A {addressee} ({kind}): respuesta esperada el {due}.",
        "answered": "Ya respondió.",
        "waiting": "Sin respuesta todavía.",
        "support": "Apoyo",
        "support_line": "Apoyo {kind} con {provider}.",
        "rests": "Su familiar descansa en: {place}.",
        "care": "Se registró un riesgo para su seguridad: su caso se trata con cuidado especial.",
        "kinds": {
            "detention_centre": "centro de detención",
            "shelter": "albergue",
            "hospital": "hospital",
            "prison": "cárcel",
            "migration_authority": "autoridad migratoria",
            "psychosocial": "psicosocial",
            "legal": "legal",
            "forensic": "forense",
            "financial": "económico",
            "administrative": "administrativo",
        },
    },
    "en": {
        "course": "Your search",
        "next_news": "You will hear from {focal_point} by {due} at the latest.",
        "news_late": "The news promised for {due} has not come: you may ask {focal_point} for it.",
        "asked": "Who was asked",
        "asked_line": "{addressee} ({kind}): answer expected by {due}.",
        "answered": "They have answered.",
        "waiting": "No answer yet.",
        "support": "Support",
        "support_line": "{kind} support with {provider}.",
        "rests": "Your relative rests at: {place}.",
        "care": "A risk to your safety was recorded: your case is handled with special care.",
        "kinds": {
            "detention_centre": "detention centre",
            "shelter": "shelter",
            "hospital": "hospital",
            "prison": "prison",
            "migration_authority": "migration authority",
            "psychosocial": "psychosocial",
            "legal": "legal",
            "forensic": "forensic",
            "financial": "financial",
            "administrative": "administrative",
        },
    },
}
for _lang in LANGUAGES:
    TEXT[_lang].update(COURSE[_lang])
