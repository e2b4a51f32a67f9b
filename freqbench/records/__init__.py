"""Evaluation records (``<records>/<dataset>/<name>.json``): the format, reading, writing and checking.

The evaluator writes records through this package, and the leaderboard, ``validate``, the
grid and the findings read them through it; none of them reads a record file by hand, so
every reader trusts the same blocks (:mod:`freqbench.records.checks`), and concurrent writers
never lose one (:func:`freqbench.records.files.update`).
"""

from freqbench.records.artifacts import with_artifacts
from freqbench.records.checks import Review, record_problems, record_schema, review
from freqbench.records.files import (
    MAX_RECORD_BYTES,
    Unreadable,
    dataset_folders,
    dataset_records_folder,
    read_json,
    record_files,
    update,
)
from freqbench.records.format import (
    FIRST_FORMAT,
    RECORD_FORMAT,
    migrate,
    model_id,
    model_identity,
    model_info,
    ordered,
    protocol_of,
    spec_or_none,
)
from freqbench.records.record import (
    Record,
    dig,
    duplicate_problems,
    load_dataset_records,
    load_record,
    load_records,
)

__all__ = [
    "FIRST_FORMAT",
    "MAX_RECORD_BYTES",
    "RECORD_FORMAT",
    "Record",
    "Review",
    "Unreadable",
    "dataset_folders",
    "dataset_records_folder",
    "dig",
    "duplicate_problems",
    "load_dataset_records",
    "load_record",
    "load_records",
    "migrate",
    "model_id",
    "model_identity",
    "model_info",
    "ordered",
    "protocol_of",
    "read_json",
    "record_files",
    "record_problems",
    "record_schema",
    "review",
    "spec_or_none",
    "update",
    "with_artifacts",
]
