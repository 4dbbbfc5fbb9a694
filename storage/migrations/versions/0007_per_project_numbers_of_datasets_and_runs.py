"""per-project numbers of dataset versions and runs: what a person sees and types

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-10

A person reads and types "dataset 2" and "run 3" of a project, while the ids stay the registry's
keys (unique across projects). Runs gain the project they belong to (it was only reachable
through their experiment) so a unique index can hold (project, number). The rows already there
are numbered in id order per project; tuning trials (child runs) get no number.

Filling these columns changes what the rows hash to, and every governed row is bound to the
audit event that last wrote it (``app.services.state_binding``). So when it numbered rows this
migration leaves the ``numbers_pending`` setting, and the next open re-binds, in one audited
event, exactly the rows whose other columns still match their binding and whose new columns are
what this backfill gives them; a row edited outside the workbench is left as it is, still caught.

The columns are nullable because SQLite adds a column to a table other tables reference without
rebuilding it (which its foreign keys forbid inside a transaction) only when NULL is allowed.
"""
from typing import Sequence, Union

import sqlalchemy as sa
from alembic import op

revision: str = '0007'
down_revision: Union[str, Sequence[str], None] = '0006'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None

#: the setting ``app.services.state_binding`` reads (named there too; migrations import no app code)
NUMBERS_SETTING = 'numbers_pending'


def upgrade() -> None:
    op.add_column('dataset_version', sa.Column('number', sa.Integer(), nullable=True))
    if op.get_bind().dialect.name == 'sqlite':
        # the foreign key inline in the new column (``ADD COLUMN … REFERENCES``), which SQLite
        # allows; Alembic would otherwise ask for a rebuild of the table
        op.execute(sa.text('ALTER TABLE run ADD COLUMN project_id INTEGER CONSTRAINT fk_run_project_id_project '
                           'REFERENCES project (id)'))
    else:
        op.add_column('run', sa.Column('project_id', sa.Integer(), nullable=True))
        op.create_foreign_key(op.f('fk_run_project_id_project'), 'run', 'project', ['project_id'], ['id'])
    op.add_column('run', sa.Column('number', sa.Integer(), nullable=True))
    numbered = _backfill(op.get_bind())
    op.create_index('ix_dataset_version_project_number', 'dataset_version', ['project_id', 'number'], unique=True)
    op.create_index('ix_run_project_number', 'run', ['project_id', 'number'], unique=True)
    op.create_index(op.f('ix_run_project_id'), 'run', ['project_id'], unique=False)
    if numbered and op.get_bind().execute(sa.text('SELECT 1 FROM audit_event LIMIT 1')).first() is not None:
        op.execute(sa.text("INSERT INTO workspace_setting (name, value) VALUES (:n, 'pending')")
                   .bindparams(n=NUMBERS_SETTING))


def _backfill(bind: sa.engine.Connection) -> int:
    """Number the rows already there in id order per project; the count of rows changed."""
    changed = 0
    bind.execute(sa.text('UPDATE run SET project_id = (SELECT experiment.project_id FROM experiment '
                         'WHERE experiment.id = run.experiment_id)'))
    queries = (
        ('dataset_version', 'SELECT id, project_id FROM dataset_version ORDER BY project_id, id'),
        ('run', 'SELECT id, project_id FROM run WHERE parent_run_id IS NULL ORDER BY project_id, id'),
    )
    for table, query in queries:
        last: dict[int, int] = {}
        for row_id, project_id in bind.execute(sa.text(query)).all():
            last[project_id] = last.get(project_id, 0) + 1
            bind.execute(sa.text(f'UPDATE {table} SET number = :n WHERE id = :i'),
                         {'n': last[project_id], 'i': row_id})
            changed += 1
    changed += bind.execute(sa.text('SELECT count(*) FROM run WHERE parent_run_id IS NOT NULL')).scalar() or 0
    return changed


def downgrade() -> None:
    op.execute(sa.text('DELETE FROM workspace_setting WHERE name = :n').bindparams(n=NUMBERS_SETTING))
    op.drop_index(op.f('ix_run_project_id'), table_name='run')
    op.drop_index('ix_run_project_number', table_name='run')
    op.drop_index('ix_dataset_version_project_number', table_name='dataset_version')
    with op.batch_alter_table('run', schema=None) as batch_op:
        batch_op.drop_column('number')
        batch_op.drop_column('project_id')
    with op.batch_alter_table('dataset_version', schema=None) as batch_op:
        batch_op.drop_column('number')
