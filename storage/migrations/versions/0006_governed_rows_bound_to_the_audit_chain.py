"""governed rows bound to the audit chain: a workspace setting marks rows awaiting their baseline

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-03

From this revision every unit of work records the hash of each governed row it changes in its
audit event (``app.services.state_binding``). Rows written before have no such event: when the
registry already holds audit events, the ``state_baseline`` setting asks the next open to bind
them all as they are, once, in an event of its own.

"""
from typing import Sequence, Union

import sqlalchemy as sa
from alembic import op

revision: str = '0006'
down_revision: Union[str, Sequence[str], None] = '0005'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    setting = op.create_table('workspace_setting',
    sa.Column('name', sa.String(length=40), nullable=False),
    sa.Column('value', sa.String(length=200), nullable=False),
    sa.PrimaryKeyConstraint('name', name=op.f('pk_workspace_setting'))
    )
    if op.get_bind().execute(sa.text('SELECT 1 FROM audit_event LIMIT 1')).first() is not None:
        op.bulk_insert(setting, [{'name': 'state_baseline', 'value': 'pending'}])


def downgrade() -> None:
    op.drop_table('workspace_setting')
