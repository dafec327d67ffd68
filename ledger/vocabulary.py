"""The field's closed vocabularies, as the workshop report and the families use them."""

from __future__ import annotations

from enum import StrEnum

__all__ = [
    "ADULT_AGE",
    "BEST_INTERESTS_DECISIONS",
    "BEST_INTERESTS_ROLES",
    "BODY_SITES",
    "BUILDS",
    "CASE_BOUND_ROLES",
    "CLOSURE_REASONS",
    "CLOTHING_CATEGORIES",
    "COLOURS",
    "DENTAL_CONDITIONS",
    "DONOR_RELATIONSHIPS",
    "EFFECT_CATEGORIES",
    "ESTIMATED_SEXES",
    "EYE_COLOURS",
    "GENDER_IDENTITIES",
    "HAIR_COLOURS",
    "ID_DOCUMENT_KINDS",
    "INQUIRY_ADDRESSEE_KINDS",
    "INQUIRY_OUTCOMES",
    "LANGUAGES",
    "MARK_KINDS",
    "MATCH_BASES",
    "MATCH_OUTCOMES",
    "MATCH_REVIEWER_ROLES",
    "MEDICAL_FINDINGS",
    "NOTIFICATION_MEANS",
    "NOTIFICATION_TEAM_ROLES",
    "PRIMARY_IDENTIFIERS",
    "PROFILE_KINDS",
    "PROTECTION_RISKS",
    "PURPOSES",
    "RECOVERY_CONTEXTS",
    "RELIABILITY",
    "REMAINS_CONDITIONS",
    "ROLES",
    "SAMPLE_TYPES",
    "SEXES",
    "SOURCES",
    "SUPPORT_KINDS",
    "SUPPORT_OUTCOMES",
    "UPDATE_MEANS",
    "CaseStatus",
]


class CaseStatus(StrEnum):
    """Where a case stands. There is deliberately no "presumed dead"."""

    MISSING = "missing"
    LOCATED_ALIVE = "located_alive"
    IDENTIFIED_DECEASED = "identified_deceased"
    CLOSED = "closed"


SEXES = ("female", "male", "intersex", "unknown")

SOURCES = (
    "family",
    "witness",
    "survivor",
    "shelter",
    "official",
    "press",
    "social_media",
    # Named by the Antigua workshop (2019): people on the route know first, and hotlines and
    # the media are how many families hear anything at all. Reliability is judged as for any source.
    "smuggler",
    "accompanying_person",
    "activist",
    "hotline",
    "media",
)

RELIABILITY = ("confirmed", "high", "medium", "low", "unverified")

PURPOSES = ("search", "forensic_identification", "family_support", "accountability", "statistics")

ROLES = (
    "caseworker",
    "family_member",
    "forensic_expert",
    "geneticist",
    "consular_officer",
    "commissioner",
    "investigator",
    "node_operator",
    "child_protection_officer",
    "data_subject",
)

# Roles whose credential opens one case only: its family member, or the person themselves.
CASE_BOUND_ROLES = ("family_member", "data_subject")

# Who may decide, in a located minor's best interests, whether their whereabouts are shared.
BEST_INTERESTS_ROLES = ("child_protection_officer",)
BEST_INTERESTS_DECISIONS = ("share_whereabouts", "withhold_whereabouts")

ID_DOCUMENT_KINDS = (
    "passport",
    "national_id",
    "birth_certificate",
    "consular_id",
    "driving_licence",
    "other",
)

RECOVERY_CONTEXTS = (
    "desert",
    "river",
    "sea",
    "railway",
    "road",
    "border_crossing",
    "detention_centre",
    "shelter",
    "urban",
    "rural",
    "mass_grave",
    "other",
)

REMAINS_CONDITIONS = (
    "fresh",
    "complete",
    "partial",
    "decomposed",
    "skeletonised",
    "burned",
    "fragmented",
)

SAMPLE_TYPES = ("blood", "buccal_swab", "bone", "tooth", "hair", "tissue", "nail")

DONOR_RELATIONSHIPS = (
    "mother",
    "father",
    "full_sibling",
    "half_sibling",
    "child",
    "grandparent",
    "aunt_uncle",
    "cousin",
    "spouse_of_parent",
    "other",
)

PROFILE_KINDS = ("autosomal_str", "y_str", "mtdna", "snp")

MATCH_BASES = ("dna", "dental", "fingerprints", "anthropological", "personal_effects", "circumstantial")

MATCH_OUTCOMES = ("confirmed", "rejected", "more_evidence_needed")

# A match on one of these identifies alone once another organisation confirms it; any other
# basis needs a second confirming review by a further organisation (two reviewers).
PRIMARY_IDENTIFIERS = ("dna", "fingerprints", "dental")

# Who may confirm or revise a match.
MATCH_REVIEWER_ROLES = ("forensic_expert", "geneticist", "commissioner")

NOTIFICATION_MEANS = ("in_person", "phone", "video_call", "letter", "through_consulate")

CLOSURE_REASONS = (
    "located_alive",
    "identified_deceased",
    "withdrawn_by_family",
    "duplicate_of_linked_case",
    "reported_in_error",
)

ADULT_AGE = 18

# Ante-mortem and post-mortem descriptions, in the categories of the INTERPOL DVI forms
# (yellow ante-mortem, pink post-mortem) and the ICRC AM/PM data model, so both sides compare.

ESTIMATED_SEXES = ("female", "male", "probably_female", "probably_male", "undetermined")
"""Sex as estimated from remains; "undetermined" when the examination cannot say."""

BUILDS = ("slim", "medium", "heavy", "muscular")

HAIR_COLOURS = ("black", "dark_brown", "light_brown", "blond", "red", "grey", "white", "bald", "dyed")

EYE_COLOURS = ("black", "brown", "hazel", "green", "blue", "grey")

MARK_KINDS = ("tattoo", "scar", "birthmark", "amputation", "piercing", "other")

BODY_SITES = (
    "head",
    "face",
    "neck",
    "chest",
    "abdomen",
    "upper_back",
    "lower_back",
    "pelvis",
    "left_shoulder",
    "right_shoulder",
    "left_upper_arm",
    "right_upper_arm",
    "left_forearm",
    "right_forearm",
    "left_hand",
    "right_hand",
    "left_thigh",
    "right_thigh",
    "left_lower_leg",
    "right_lower_leg",
    "left_foot",
    "right_foot",
    "unknown",
)

DENTAL_CONDITIONS = ("missing", "crown", "filling", "gold", "prosthesis")

MEDICAL_FINDINGS = ("fracture", "surgery", "implant", "prosthesis", "other")

CLOTHING_CATEGORIES = (
    "shirt",
    "t_shirt",
    "trousers",
    "jeans",
    "shorts",
    "skirt",
    "dress",
    "jacket",
    "sweater",
    "underwear",
    "socks",
    "shoes",
    "boots",
    "sandals",
    "cap",
    "belt",
)

EFFECT_CATEGORIES = (
    "backpack",
    "wallet",
    "phone",
    "jewellery",
    "religious_item",
    "watch",
    "document",
    "photo",
    "money",
    "other",
)

COLOURS = (
    "black",
    "white",
    "grey",
    "blue",
    "red",
    "green",
    "yellow",
    "brown",
    "beige",
    "pink",
    "purple",
    "orange",
    "multicolour",
)

# ------------------------------------------------------------------ the course of a case
# (ledger/course.py): inquiries, family support, updates, notification, protection.

LANGUAGES: dict[str, str] = {
    "es": "Spanish",
    "en": "English",
    "quc": "K'iche'",
    "mam": "Mam",
    "kek": "Q'eqchi'",
    "cak": "Kaqchikel",
    "cab": "Garífuna",
    "ht": "Haitian Creole",
    "fr": "French",
    "pt": "Portuguese",
    "ixl": "Ixil",
    "tzh": "Tzeltal",
    "tzo": "Tsotsil",
    "jac": "Popti'",
    "nah": "Nahuatl",
    "miskito": "Miskito",
}
"""Languages by ISO 639 code (Miskito has no two- or three-letter code in common use here):
the person's, a family contact's, and the one a notification or an update was given in."""

INQUIRY_ADDRESSEE_KINDS = ("detention_centre", "shelter", "hospital", "prison", "migration_authority")
"""Where families and NGOs ask whether a missing migrant is held or was seen."""

INQUIRY_OUTCOMES = ("found", "not_found", "no_answer")

SUPPORT_KINDS = ("psychosocial", "legal", "forensic", "financial", "administrative")

SUPPORT_OUTCOMES = ("provided", "ongoing", "declined_by_family", "not_available", "family_unreachable")

UPDATE_MEANS = (
    "in_person",
    "phone",
    "video_call",
    "letter",
    "message",
    "through_consulate",
    "family_meeting",
)

NOTIFICATION_TEAM_ROLES = (
    "forensic_expert",
    "psychologist",
    "social_worker",
    "caseworker",
    "consular_officer",
    "interpreter",
    "commissioner",
    "prosecutor",
    "family_association",
)
"""Who explains an identification to a family: a multidisciplinary team, as the workshop asks."""

PROTECTION_RISKS = ("threats", "trafficking", "violence", "extortion", "persecution")

GENDER_IDENTITIES = ("woman", "man", "trans_woman", "trans_man", "non_binary", "other", "not_stated")
