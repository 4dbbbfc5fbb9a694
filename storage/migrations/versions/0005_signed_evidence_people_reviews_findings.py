"""signed evidence: people and their keys, signed decisions, reviews and findings

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-03

Decisions recorded before this revision stay unsigned (their signature columns are empty), which
is what they are; nothing is back-filled.

"""
from typing import Sequence, Union

import sqlalchemy as sa
from alembic import op

revision: str = '0005'
down_revision: Union[str, Sequence[str], None] = '0004'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None

SIGNED = ('approval', 'transition', 'waiver')


def _signature_columns() -> list[sa.Column]:
    return [sa.Column('statement', sa.Text(), nullable=True),
            sa.Column('signature', sa.String(length=128), nullable=True),
            sa.Column('signer_fingerprint', sa.String(length=64), nullable=True)]


def upgrade() -> None:
    op.create_table('person',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=100), nullable=False),
    sa.Column('role', sa.String(length=20), nullable=False),
    sa.Column('public_key', sa.String(length=64), nullable=False),
    sa.Column('fingerprint', sa.String(length=64), nullable=False),
    sa.Column('added_by', sa.String(length=100), nullable=False),
    sa.Column('added_by_fingerprint', sa.String(length=64), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_person')),
    sa.UniqueConstraint('name', name=op.f('uq_person_name')),
    sa.UniqueConstraint('public_key', name=op.f('uq_person_public_key')),
    sa.UniqueConstraint('fingerprint', name=op.f('uq_person_fingerprint'))
    )
    op.create_table('review',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('model_version_id', sa.Integer(), nullable=False),
    sa.Column('manifest_digest', sa.String(length=64), nullable=False),
    sa.Column('conclusion', sa.String(length=40), nullable=False),
    sa.Column('summary', sa.Text(), nullable=False),
    sa.Column('reviewer', sa.String(length=100), nullable=False),
    sa.Column('document', sa.Text(), nullable=False),
    sa.Column('signature', sa.String(length=128), nullable=False),
    sa.Column('signer_fingerprint', sa.String(length=64), nullable=False),
    sa.Column('reviewed_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('imported_by', sa.String(length=100), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['model_version_id'], ['model_version.id'], name=op.f('fk_review_model_version_id_model_version')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_review'))
    )
    with op.batch_alter_table('review', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_review_model_version_id'), ['model_version_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_review_signer_fingerprint'), ['signer_fingerprint'], unique=False)
    op.create_table('finding',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('project_id', sa.Integer(), nullable=False),
    sa.Column('model_version_id', sa.Integer(), nullable=True),
    sa.Column('review_id', sa.Integer(), nullable=True),
    sa.Column('source', sa.String(length=40), nullable=False),
    sa.Column('title', sa.Text(), nullable=False),
    sa.Column('severity', sa.String(length=10), nullable=False),
    sa.Column('concerns', sa.Text(), nullable=False),
    sa.Column('remediation', sa.Text(), nullable=False),
    sa.Column('due_date', sa.String(length=10), nullable=True),
    sa.Column('status', sa.String(length=20), nullable=False),
    sa.Column('raised_by', sa.String(length=100), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['project_id'], ['project.id'], name=op.f('fk_finding_project_id_project'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['model_version_id'], ['model_version.id'], name=op.f('fk_finding_model_version_id_model_version')),
    sa.ForeignKeyConstraint(['review_id'], ['review.id'], name=op.f('fk_finding_review_id_review')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_finding'))
    )
    with op.batch_alter_table('finding', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_finding_project_id'), ['project_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_finding_model_version_id'), ['model_version_id'], unique=False)
    op.create_table('finding_event',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('finding_id', sa.Integer(), nullable=False),
    sa.Column('from_status', sa.String(length=20), nullable=True),
    sa.Column('to_status', sa.String(length=20), nullable=False),
    sa.Column('actor', sa.String(length=100), nullable=False),
    sa.Column('reason', sa.Text(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    *_signature_columns(),
    sa.ForeignKeyConstraint(['finding_id'], ['finding.id'], name=op.f('fk_finding_event_finding_id_finding'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_finding_event'))
    )
    with op.batch_alter_table('finding_event', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_finding_event_finding_id'), ['finding_id'], unique=False)
    for table in SIGNED:
        with op.batch_alter_table(table, schema=None) as batch_op:
            for column in _signature_columns():
                batch_op.add_column(column)
            batch_op.create_index(batch_op.f(f'ix_{table}_signer_fingerprint'), ['signer_fingerprint'], unique=False)
    with op.batch_alter_table('model_version', schema=None) as batch_op:
        batch_op.add_column(sa.Column('author_fingerprint', sa.String(length=64), nullable=True))
    with op.batch_alter_table('model_card', schema=None) as batch_op:
        batch_op.add_column(sa.Column('drafted', sa.JSON(), server_default='[]', nullable=False))
    with op.batch_alter_table('project', schema=None) as batch_op:
        batch_op.add_column(sa.Column('risk_tier', sa.String(length=10), server_default='medium', nullable=False))
        batch_op.add_column(sa.Column('owner', sa.String(length=100), server_default='', nullable=False))


def downgrade() -> None:
    with op.batch_alter_table('project', schema=None) as batch_op:
        batch_op.drop_column('owner')
        batch_op.drop_column('risk_tier')
    with op.batch_alter_table('model_card', schema=None) as batch_op:
        batch_op.drop_column('drafted')
    with op.batch_alter_table('model_version', schema=None) as batch_op:
        batch_op.drop_column('author_fingerprint')
    for table in SIGNED:
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.drop_index(batch_op.f(f'ix_{table}_signer_fingerprint'))
            for name in ('signer_fingerprint', 'signature', 'statement'):
                batch_op.drop_column(name)
    op.drop_table('finding_event')
    op.drop_table('finding')
    op.drop_table('review')
    op.drop_table('person')
