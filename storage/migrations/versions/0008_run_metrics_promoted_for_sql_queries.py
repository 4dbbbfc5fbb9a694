"""run metrics promoted into their own indexed table, so runs are filtered and sorted in SQL

Revision ID: 0008
Revises: 0006
Create Date: 2026-12-10

``run_metric`` holds one row per (run, numeric metric) with the run's project, indexed on
(project, name, value, run): ``app.services.run_query`` answers "val_roc_auc > 0.8, best first"
by walking one index range instead of reading every run's JSON. The rows already there are
backfilled from ``run.metrics`` and ``run.test_metrics`` (as ``test_<name>``). The table is
derived data: it is not bound to the audit chain, and rebuilding it changes no governed row.
"""
import json
from typing import Sequence, Union

import sqlalchemy as sa
from alembic import op

revision: str = '0008'
down_revision: Union[str, Sequence[str], None] = '0007'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def _promoted(metrics: dict, test_metrics: dict) -> dict[str, float]:
    """The same rule as ``storage.models.promoted_metrics`` (a migration keeps its own copy)."""
    import math

    out: dict[str, float] = {}
    for prefix, values in (("", metrics or {}), ("test_", test_metrics or {})):
        for name, value in values.items():
            if isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value):
                key = str(name) if str(name).startswith(prefix) else prefix + str(name)
                out[key[:120]] = float(value)
    return out


def upgrade() -> None:
    table = op.create_table(
        'run_metric',
        sa.Column('run_id', sa.Integer(), nullable=False),
        sa.Column('name', sa.String(length=120), nullable=False),
        sa.Column('project_id', sa.Integer(), nullable=False),
        sa.Column('value', sa.Float(), nullable=False),
        sa.ForeignKeyConstraint(['run_id'], ['run.id'], name=op.f('fk_run_metric_run_id_run'), ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('run_id', 'name', name=op.f('pk_run_metric')),
    )
    op.create_index('ix_run_metric_project_name_value', 'run_metric', ['project_id', 'name', 'value', 'run_id'])
    rows = op.get_bind().execute(sa.text(
        'SELECT run.id, experiment.project_id, run.metrics, run.test_metrics FROM run '
        'JOIN experiment ON experiment.id = run.experiment_id')).all()
    batch = []
    for run_id, project_id, metrics, test_metrics in rows:
        loaded = [json.loads(v) if isinstance(v, str) else (v or {}) for v in (metrics, test_metrics)]
        batch.extend({'run_id': run_id, 'name': name, 'project_id': project_id, 'value': value}
                     for name, value in _promoted(*loaded).items())
    if batch:
        op.bulk_insert(table, batch)


def downgrade() -> None:
    op.drop_index('ix_run_metric_project_name_value', table_name='run_metric')
    op.drop_table('run_metric')
