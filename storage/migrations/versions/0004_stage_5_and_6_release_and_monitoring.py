"""stage 5 and 6 release and monitoring

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-27

Drift results become one row per feature with every statistic that applies; existing
per-test rows are folded into that shape before the old columns go.

"""
from typing import Sequence, Union

import sqlalchemy as sa
from alembic import op

revision: str = '0004'
down_revision: Union[str, Sequence[str], None] = '0003'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    op.create_table('monitoring_policy',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('project_id', sa.Integer(), nullable=False),
    sa.Column('thresholds', sa.JSON(), nullable=False),
    sa.Column('retrain_every_days', sa.Integer(), nullable=True),
    sa.Column('last_scheduled_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('updated_by', sa.String(length=100), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['project_id'], ['project.id'], name=op.f('fk_monitoring_policy_project_id_project'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_monitoring_policy')),
    sa.UniqueConstraint('project_id', name=op.f('uq_monitoring_policy_project_id'))
    )
    op.create_table('sla_rule',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('project_id', sa.Integer(), nullable=False),
    sa.Column('metric', sa.String(length=60), nullable=False),
    sa.Column('comparator', sa.String(length=2), nullable=False),
    sa.Column('threshold', sa.Float(), nullable=False),
    sa.Column('severity', sa.String(length=20), nullable=False),
    sa.Column('active', sa.Boolean(), nullable=False),
    sa.Column('created_by', sa.String(length=100), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['project_id'], ['project.id'], name=op.f('fk_sla_rule_project_id_project'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_sla_rule'))
    )
    with op.batch_alter_table('sla_rule', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_sla_rule_project_id'), ['project_id'], unique=False)

    op.create_table('prediction_log',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('project_id', sa.Integer(), nullable=False),
    sa.Column('request_id', sa.String(length=64), nullable=False),
    sa.Column('ts', sa.DateTime(timezone=True), nullable=False),
    sa.Column('route', sa.String(length=20), nullable=False),
    sa.Column('served_version_id', sa.Integer(), nullable=False),
    sa.Column('other_version_id', sa.Integer(), nullable=True),
    sa.Column('features', sa.JSON(), nullable=False),
    sa.Column('prediction', sa.JSON(), nullable=False),
    sa.Column('other_prediction', sa.JSON(), nullable=True),
    sa.Column('latency_ms', sa.Float(), nullable=False),
    sa.Column('other_latency_ms', sa.Float(), nullable=True),
    sa.Column('error', sa.Text(), nullable=False),
    sa.Column('label', sa.JSON(), nullable=True),
    sa.Column('labelled_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('batch_id', sa.Integer(), nullable=True),
    sa.ForeignKeyConstraint(['batch_id'], ['monitoring_batch.id'], name=op.f('fk_prediction_log_batch_id_monitoring_batch')),
    sa.ForeignKeyConstraint(['other_version_id'], ['model_version.id'], name=op.f('fk_prediction_log_other_version_id_model_version')),
    sa.ForeignKeyConstraint(['project_id'], ['project.id'], name=op.f('fk_prediction_log_project_id_project'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['served_version_id'], ['model_version.id'], name=op.f('fk_prediction_log_served_version_id_model_version')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_prediction_log')),
    sa.UniqueConstraint('request_id', name=op.f('uq_prediction_log_request_id'))
    )
    with op.batch_alter_table('prediction_log', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_prediction_log_project_id'), ['project_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_prediction_log_ts'), ['ts'], unique=False)
        batch_op.create_index(batch_op.f('ix_prediction_log_batch_id'), ['batch_id'], unique=False)

    op.create_table('release_analysis',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('model_version_id', sa.Integer(), nullable=False),
    sa.Column('baseline_version_id', sa.Integer(), nullable=True),
    sa.Column('kind', sa.String(length=20), nullable=False),
    sa.Column('verdict', sa.String(length=20), nullable=False),
    sa.Column('decision', sa.Text(), nullable=False),
    sa.Column('results', sa.JSON(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('created_by', sa.String(length=100), nullable=False),
    sa.ForeignKeyConstraint(['baseline_version_id'], ['model_version.id'], name=op.f('fk_release_analysis_baseline_version_id_model_version')),
    sa.ForeignKeyConstraint(['model_version_id'], ['model_version.id'], name=op.f('fk_release_analysis_model_version_id_model_version')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_release_analysis'))
    )
    with op.batch_alter_table('release_analysis', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_release_analysis_model_version_id'), ['model_version_id'], unique=False)

    op.create_table('review_request',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('model_version_id', sa.Integer(), nullable=False),
    sa.Column('requested_by', sa.String(length=100), nullable=False),
    sa.Column('reviewer', sa.String(length=100), nullable=True),
    sa.Column('comment', sa.Text(), nullable=False),
    sa.Column('status', sa.String(length=20), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('decided_at', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['model_version_id'], ['model_version.id'], name=op.f('fk_review_request_model_version_id_model_version')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_review_request'))
    )
    with op.batch_alter_table('review_request', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_review_request_model_version_id'), ['model_version_id'], unique=False)

    op.create_table('waiver',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('model_version_id', sa.Integer(), nullable=False),
    sa.Column('check_id', sa.String(length=60), nullable=False),
    sa.Column('reason', sa.Text(), nullable=False),
    sa.Column('granted_by', sa.String(length=100), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['model_version_id'], ['model_version.id'], name=op.f('fk_waiver_model_version_id_model_version')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_waiver'))
    )
    with op.batch_alter_table('waiver', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_waiver_model_version_id'), ['model_version_id'], unique=False)

    with op.batch_alter_table('approval', schema=None) as batch_op:
        batch_op.add_column(sa.Column('request_id', sa.Integer(), nullable=True))
        batch_op.create_foreign_key(batch_op.f('fk_approval_request_id_review_request'), 'review_request', ['request_id'], ['id'])

    with op.batch_alter_table('drift_result', schema=None) as batch_op:
        batch_op.add_column(sa.Column('subject', sa.String(length=20), nullable=False, server_default='feature'))
        batch_op.add_column(sa.Column('ks', sa.Float(), nullable=True))
        batch_op.add_column(sa.Column('ks_pvalue', sa.Float(), nullable=True))
        batch_op.add_column(sa.Column('psi', sa.Float(), nullable=True))
        batch_op.add_column(sa.Column('chi2', sa.Float(), nullable=True))
        batch_op.add_column(sa.Column('chi2_pvalue', sa.Float(), nullable=True))
        batch_op.add_column(sa.Column('js', sa.Float(), nullable=True))
        batch_op.add_column(sa.Column('note', sa.Text(), nullable=False, server_default=''))
    # fold the old (feature, test) rows into one row per feature, verdict = any test drifted
    op.execute("UPDATE drift_result SET ks = statistic, ks_pvalue = p_value WHERE test = 'ks'")
    op.execute("UPDATE drift_result SET psi = statistic WHERE test = 'psi'")
    op.execute(
        "UPDATE drift_result SET "
        "ks = (SELECT o.statistic FROM drift_result o WHERE o.batch_id = drift_result.batch_id "
        "      AND o.feature = drift_result.feature AND o.test = 'ks'), "
        "ks_pvalue = (SELECT o.p_value FROM drift_result o WHERE o.batch_id = drift_result.batch_id "
        "      AND o.feature = drift_result.feature AND o.test = 'ks'), "
        # "any test drifted" as EXISTS, not MAX(drifted): PostgreSQL has no MAX over booleans
        "drifted = EXISTS (SELECT 1 FROM drift_result o WHERE o.batch_id = drift_result.batch_id "
        "      AND o.feature = drift_result.feature AND o.drifted) "
        "WHERE test = 'psi'"
    )
    op.execute(
        "DELETE FROM drift_result WHERE test = 'ks' AND EXISTS (SELECT 1 FROM drift_result o "
        "WHERE o.batch_id = drift_result.batch_id AND o.feature = drift_result.feature AND o.test = 'psi')"
    )
    with op.batch_alter_table('drift_result', schema=None) as batch_op:
        batch_op.drop_column('p_value')
        batch_op.drop_column('statistic')
        batch_op.drop_column('test')

    with op.batch_alter_table('model_version', schema=None) as batch_op:
        batch_op.add_column(sa.Column('reference_sha256', sa.String(length=64), nullable=True))

    with op.batch_alter_table('monitoring_batch', schema=None) as batch_op:
        batch_op.add_column(sa.Column('source', sa.String(length=20), nullable=False, server_default='file'))
        batch_op.add_column(sa.Column('id_column', sa.String(length=200), nullable=True))
        batch_op.add_column(sa.Column('n_labelled', sa.Integer(), nullable=False, server_default='0'))
        batch_op.add_column(sa.Column('labelled_dataset_version_id', sa.Integer(), nullable=True))
        batch_op.create_foreign_key(batch_op.f('fk_monitoring_batch_labelled_dataset_version_id_dataset_version'),
                                    'dataset_version', ['labelled_dataset_version_id'], ['id'])
        batch_op.add_column(sa.Column('metrics', sa.JSON(), nullable=False, server_default='{}'))
        batch_op.add_column(sa.Column('sla', sa.JSON(), nullable=False, server_default='{}'))

    with op.batch_alter_table('retraining_trigger', schema=None) as batch_op:
        batch_op.add_column(sa.Column('kind', sa.String(length=20), nullable=False, server_default='automatic'))
        batch_op.add_column(sa.Column('batch_id', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('dataset_version_id', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('job_id', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('requested_by', sa.String(length=100), nullable=False, server_default=''))
        batch_op.alter_column('alert_id',
               existing_type=sa.INTEGER(),
               nullable=True)
        batch_op.create_foreign_key(batch_op.f('fk_retraining_trigger_batch_id_monitoring_batch'), 'monitoring_batch', ['batch_id'], ['id'])
        batch_op.create_foreign_key(batch_op.f('fk_retraining_trigger_job_id_job'), 'job', ['job_id'], ['id'])
        batch_op.create_foreign_key(batch_op.f('fk_retraining_trigger_dataset_version_id_dataset_version'), 'dataset_version', ['dataset_version_id'], ['id'])



def downgrade() -> None:
    with op.batch_alter_table('retraining_trigger', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('fk_retraining_trigger_dataset_version_id_dataset_version'), type_='foreignkey')
        batch_op.drop_constraint(batch_op.f('fk_retraining_trigger_job_id_job'), type_='foreignkey')
        batch_op.drop_constraint(batch_op.f('fk_retraining_trigger_batch_id_monitoring_batch'), type_='foreignkey')
        batch_op.alter_column('alert_id',
               existing_type=sa.INTEGER(),
               nullable=False)
        batch_op.drop_column('requested_by')
        batch_op.drop_column('job_id')
        batch_op.drop_column('dataset_version_id')
        batch_op.drop_column('batch_id')
        batch_op.drop_column('kind')

    with op.batch_alter_table('monitoring_batch', schema=None) as batch_op:
        batch_op.drop_column('sla')
        batch_op.drop_column('metrics')
        batch_op.drop_constraint(batch_op.f('fk_monitoring_batch_labelled_dataset_version_id_dataset_version'),
                                 type_='foreignkey')
        batch_op.drop_column('labelled_dataset_version_id')
        batch_op.drop_column('n_labelled')
        batch_op.drop_column('id_column')
        batch_op.drop_column('source')

    with op.batch_alter_table('model_version', schema=None) as batch_op:
        batch_op.drop_column('reference_sha256')

    with op.batch_alter_table('drift_result', schema=None) as batch_op:
        batch_op.add_column(sa.Column('test', sa.VARCHAR(length=20), nullable=False, server_default='psi'))
        batch_op.add_column(sa.Column('statistic', sa.FLOAT(), nullable=True))
        batch_op.add_column(sa.Column('p_value', sa.FLOAT(), nullable=True))
        batch_op.drop_column('note')
        batch_op.drop_column('js')
        batch_op.drop_column('chi2_pvalue')
        batch_op.drop_column('chi2')
        batch_op.drop_column('psi')
        batch_op.drop_column('ks_pvalue')
        batch_op.drop_column('ks')
        batch_op.drop_column('subject')

    with op.batch_alter_table('approval', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('fk_approval_request_id_review_request'), type_='foreignkey')
        batch_op.drop_column('request_id')

    with op.batch_alter_table('waiver', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_waiver_model_version_id'))

    op.drop_table('waiver')
    with op.batch_alter_table('review_request', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_review_request_model_version_id'))

    op.drop_table('review_request')
    with op.batch_alter_table('release_analysis', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_release_analysis_model_version_id'))

    op.drop_table('release_analysis')
    with op.batch_alter_table('prediction_log', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_prediction_log_ts'))
        batch_op.drop_index(batch_op.f('ix_prediction_log_batch_id'))
        batch_op.drop_index(batch_op.f('ix_prediction_log_project_id'))

    op.drop_table('prediction_log')
    with op.batch_alter_table('sla_rule', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_sla_rule_project_id'))

    op.drop_table('sla_rule')
    op.drop_table('monitoring_policy')
