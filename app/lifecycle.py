"""The six lifecycle stages, their deliverables and gate checks, as data.

Gates are evaluated in ``app.services.gates``; this module only says *what* each stage needs
and for which maturity profile a check is required (elsewhere it only warns), so a new check
is one line here plus one evaluator.
"""

from __future__ import annotations

from dataclasses import dataclass

MATURITIES: tuple[str, ...] = ("startup", "growth", "enterprise")
ALL = frozenset(MATURITIES)
GROWTH_UP = frozenset({"growth", "enterprise"})
ENTERPRISE = frozenset({"enterprise"})


@dataclass(frozen=True)
class Stage:
    number: int
    key: str
    title: str
    risk: str
    deliverable: str


@dataclass(frozen=True)
class Check:
    """One check of a gate: a stage's gate (``CHECKS``) or a model version's release gate
    (``RELEASE_CHECKS``, which a version must pass before production).

    The profiles in ``required_for`` require it; elsewhere a failing check only warns. Only the
    release gate takes waivers: a ``waivable`` check the profile requires may be skipped with a
    recorded reason on the profiles in ``waivable_for``, one that is not (the four-eyes rule)
    never can; a check it only recommends lets promotion go ahead and records the waiver itself.
    A check is not waivable unless it says so, so a new check cannot be skipped by accident.
    An enterprise waiver is always signed by someone other than the version's author;
    ``independent_waiver`` asks that on every profile.
    """

    id: str
    stage: int
    label: str
    required_for: frozenset[str] = ALL
    waivable: bool = False
    waivable_for: frozenset[str] = ALL
    independent_waiver: bool = False

    def required(self, maturity: str) -> bool:
        return maturity in self.required_for

    def waivable_on(self, maturity: str) -> bool:
        """May a person waive this check on a project of ``maturity``?"""
        return self.waivable and maturity in self.waivable_for


STAGES: tuple[Stage, ...] = (
    Stage(1, "business", "Business goal", "wrong problem", "problem statement and ML appropriateness checklist"),
    Stage(2, "framing", "Problem framing", "bad labels", "feature spec, target and label strategy"),
    Stage(3, "data", "Data processing", "data leakage", "dataset versions, profile and split"),
    Stage(4, "development", "Model development", "overfitting, no baseline", "baseline and candidate runs, model card"),
    Stage(5, "deployment", "Deployment", "silent failure", "registered model version, approval, promotion"),
    Stage(6, "monitoring", "Monitoring", "undetected drift", "monitoring batches, drift results, alerts"),
)

CHECKS: tuple[Check, ...] = (
    Check("statement_complete", 1, "Problem statement has objective, stakeholders, problem type and feasibility"),
    Check("metrics_linked", 1, "Business metric linked to an ML metric with a threshold"),
    Check("baseline_named", 1, "Baseline heuristic named"),
    Check("ml_appropriate", 1, "'Is ML appropriate?' checklist answered in favour of ML"),
    Check("features_specified", 2, "Feature spec lists at least one feature with its type and source"),
    Check("serving_availability", 2, "Every feature says whether it is available at serving time"),
    Check("target_defined", 2, "Target and label strategy defined"),
    Check("pii_reviewed", 2, "Every feature says whether it holds personal data", GROWTH_UP),
    Check("dataset_imported", 3, "A training dataset version is imported"),
    Check("split_created", 3, "A train/validation/test split exists"),
    Check("no_row_overlap", 3, "No row is shared between train and test"),
    Check("no_leakage", 3, "Leakage checks of the split found no leaking feature"),
    Check("baseline_run", 4, "A baseline run exists"),
    Check("candidates_trained", 4, "At least two candidate models trained"),
    Check("beats_baseline", 4, "A candidate beats a baseline significantly (α = 0.05) on validation data"),
    Check("test_set_once", 4, "The sealed test set was used at most once per experiment", GROWTH_UP),
    Check("stated_metric_met", 4, "The chosen model reaches the statement's ML metric threshold", GROWTH_UP),
    Check("fairness_reviewed", 4, "Fairness of the chosen model analysed; its findings closed or accepted",
          GROWTH_UP),
    Check("model_card", 4, "A model card is written for the chosen model"),
    Check("model_registered", 5, "A model version is registered"),
    Check("independent_approval", 5, "Approved by someone other than its author"),
    Check("in_production", 5, "A model version is in production"),
    Check("monitoring_configured", 6, "A monitoring batch has been analysed"),
    Check("drift_checked", 6, "Per-feature drift computed for the latest batch"),
    Check("alerts_triaged", 6, "Every critical alert has a retraining trigger", GROWTH_UP),
    Check("sla_defined", 6, "SLA rules are defined and checked on every batch", ENTERPRISE),
)


RELEASE_CHECKS: tuple[Check, ...] = (
    Check("independent_approval", 5, "Approved by someone other than its author (four-eyes)", GROWTH_UP),
    Check("model_card_complete", 5, "Every model card section is written or confirmed by a person", GROWTH_UP,
          waivable=True),
    Check("significant_over_baseline", 5, "Beats a baseline significantly on validation data", GROWTH_UP,
          waivable=True),
    Check("shadow_passed", 5, "A shadow analysis against production passed", ENTERPRISE, waivable=True),
    Check("canary_passed", 5, "A canary passed its guardrails", ENTERPRISE, waivable=True),
    Check("monitoring_configured", 5, "SLA rules or drift thresholds are configured", ENTERPRISE, waivable=True),
    # A validator's open high-severity finding blocks on every profile; someone other than the
    # author may take the risk knowingly (a signed waiver), never on enterprise.
    Check("no_open_high_findings", 5, "No open high-severity finding on the version", ALL, waivable=True,
          waivable_for=ALL - ENTERPRISE, independent_waiver=True),
)

#: A model's risk tier (SR 11-7 inventory): how material it is, which sets how often it is
#: revalidated. The periodic review falls due this many months after the last validation
#: (the latest signed approval or imported review of the version in use).
RISK_TIERS: tuple[str, ...] = ("low", "medium", "high")
#: A finding's severities and statuses (``app.services.findings``); a settled finding no longer
#: blocks anything. Here, not in the service, so the reports read the same definition.
FINDING_SEVERITIES: tuple[str, ...] = ("low", "medium", "high")
FINDING_STATUSES: tuple[str, ...] = ("open", "remediated", "accepted", "closed")
FINDING_SETTLED = frozenset({"accepted", "closed"})
PERIODIC_REVIEW_MONTHS: dict[str, int] = {"high": 6, "medium": 12, "low": 24}


#: The largest gap between groups of a sensitive attribute (demographic parity difference,
#: equalized odds difference) each profile lets pass without a fairness finding. A group the
#: model never selects, or whose positives it never finds, is a finding on every profile.
FAIRNESS_MAX_DISPARITY: dict[str, float] = {"startup": 0.2, "growth": 0.1, "enterprise": 0.05}


def stage(number: int) -> Stage:
    if not 1 <= number <= len(STAGES):
        raise ValueError(f"stage must be 1–{len(STAGES)}, got {number}")
    return STAGES[number - 1]


def checks_for(number: int) -> tuple[Check, ...]:
    return tuple(c for c in CHECKS if c.stage == number)


# Stage 1 and 2 deliverable fields: (key, label). Forms and the report use the same list.
STATEMENT_FIELDS: tuple[tuple[str, str], ...] = (
    ("objective", "Objective"),
    ("stakeholders_gain", "Stakeholders who gain"),
    ("stakeholders_lose", "Stakeholders who lose"),
    ("business_metric", "Business metric"),
    ("ml_metric", "ML metric"),
    ("ml_metric_threshold", "ML metric threshold"),
    ("feasibility_data", "Feasibility: data"),
    ("feasibility_regulation", "Feasibility: regulation"),
    ("feasibility_timeline", "Feasibility: timeline"),
    ("feasibility_budget", "Feasibility: budget"),
    ("baseline_heuristic", "Baseline heuristic"),
)

ML_CHECKLIST: tuple[tuple[str, str], ...] = (
    ("pattern_exists", "There is a pattern to learn (not a fixed rule)"),
    ("data_available", "Enough relevant data exists or can be collected"),
    ("errors_tolerable", "Occasional wrong predictions are tolerable"),
    ("rules_insufficient", "A simple rule or heuristic is not good enough"),
    ("feedback_available", "Outcomes can be observed to monitor and retrain"),
)

FRAMING_FIELDS: tuple[tuple[str, str], ...] = (
    ("target", "Target"),
    ("label_strategy", "Label strategy"),
    ("cold_start", "Cold start"),
    ("temporal_aspects", "Temporal aspects"),
    ("proxy_metrics", "Proxy metrics"),
)

# The model card's sections, after Mitchell et al., "Model Cards for Model Reporting": the sections a
# reviewer expects. Those the registry can fill are drafted from evidence; the rest only a person
# can write. The registry, the promotion gate and every document use this list.
MODEL_CARD_SECTIONS: tuple[tuple[str, str], ...] = (
    ("model_details", "Model details"),
    ("intended_use", "Intended use"),
    ("factors", "Factors"),
    ("metrics", "Metrics"),
    ("evaluation_data", "Evaluation data"),
    ("training_data", "Training data"),
    ("quantitative_analyses", "Quantitative analyses"),
    ("ethical_considerations", "Ethical considerations"),
    ("caveats", "Caveats and recommendations"),
)


#: The longest name or title the workbench takes (project names, finding titles, people): a
#: title is one line on a screen and in a PDF; longer text belongs in a description field.
MAX_TITLE_CHARS = 200


def check_title(what: str, text: str, limit: int = MAX_TITLE_CHARS) -> str:
    """``text`` stripped, or a ValueError naming ``what`` when it is empty or longer than ``limit``."""
    text = text.strip()
    if not text:
        raise ValueError(f"{what} cannot be empty")
    if len(text) > limit:
        raise ValueError(f"{what} is {len(text):,} characters long; keep it to {limit} "
                         "(put the detail in a description, comment or remediation field)")
    return text
