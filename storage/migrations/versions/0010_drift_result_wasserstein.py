"""drift results keep the normed Wasserstein distance

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-03

The drift verdict weighs the normed Wasserstein distance (the Wasserstein-1 distance over the
reference's standard deviation) beside KS, PSI and JS; a stored result kept only the others, so
a screen or a report could name the distance in the note but not show it. Nullable, no default:
results analysed before have NULL (the distance was not measured for them), and drift results
are not governed rows, so no audit binding changes.
"""
from typing import Sequence, Union

import sqlalchemy as sa
from alembic import op

revision: str = '0010'
down_revision: Union[str, Sequence[str], None] = '0009'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    with op.batch_alter_table('drift_result', schema=None) as batch_op:
        batch_op.add_column(sa.Column('wasserstein', sa.Float(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('drift_result', schema=None) as batch_op:
        batch_op.drop_column('wasserstein')
