"""runs trained outside the workbench: origin, code version, tags and metric history

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-10

A run logged through the public ``mlwb`` tracking module (``app.services.external_runs``) says
where it came from (``origin = 'external'``), the code version it was logged from (the git commit
of the caller's working directory, when there is one), the tags the caller set and each metric's
history by step. Every column is nullable with no server default: a run written before keeps
NULL there, and a NULL column is left out of a governed row's hash (``state_binding``), so the
rows already bound to the audit chain still hash as their events say.

"""
from typing import Sequence, Union

import sqlalchemy as sa
from alembic import op

revision: str = '0009'
down_revision: Union[str, Sequence[str], None] = '0008'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    with op.batch_alter_table('run', schema=None) as batch_op:
        batch_op.add_column(sa.Column('origin', sa.String(length=20), nullable=True))
        batch_op.add_column(sa.Column('code_version', sa.JSON(), nullable=True))
        batch_op.add_column(sa.Column('tags', sa.JSON(), nullable=True))
        batch_op.add_column(sa.Column('metric_history', sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('run', schema=None) as batch_op:
        batch_op.drop_column('metric_history')
        batch_op.drop_column('tags')
        batch_op.drop_column('code_version')
        batch_op.drop_column('origin')
