"""Second factor (TOTP secret, replay step, grace, recovery codes), the caisse's
"mandatory for agents" setting, the ProConnect subject

Revision ID: 0007
Revises: 0006
"""
import sqlalchemy as sa
from alembic import op

import ep_web.models.base

revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('account', schema=None) as batch_op:
        batch_op.add_column(sa.Column('totp_secret', sa.String(64), nullable=True))
        batch_op.add_column(sa.Column('totp_pending_secret', sa.String(64), nullable=True))
        batch_op.add_column(sa.Column('totp_enrolled_at', ep_web.models.base.UTCDateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('totp_last_step', sa.BigInteger(), nullable=True))
        batch_op.add_column(sa.Column('second_factor_grace_until', ep_web.models.base.UTCDateTime(timezone=True),
                                      nullable=True))
        batch_op.add_column(sa.Column('proconnect_sub', sa.String(255), nullable=True))
        batch_op.create_unique_constraint(batch_op.f('uq_account_proconnect_sub'), ['proconnect_sub'])
    with op.batch_alter_table('caisse', schema=None) as batch_op:
        batch_op.add_column(sa.Column('agents_second_factor_required', sa.Boolean(), nullable=False,
                                      server_default=sa.false()))
    op.create_table(
        'recovery_code',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('account_id', sa.Integer(), nullable=False),
        sa.Column('code_hash', sa.String(64), nullable=False),
        sa.Column('used_at', ep_web.models.base.UTCDateTime(timezone=True), nullable=True),
        sa.Column('created_at', ep_web.models.base.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(['account_id'], ['account.id'], name=op.f('fk_recovery_code_account_id_account'),
                                ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_recovery_code')),
    )
    with op.batch_alter_table('recovery_code', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_recovery_code_account_id'), ['account_id'], unique=False)


def downgrade():
    with op.batch_alter_table('recovery_code', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_recovery_code_account_id'))
    op.drop_table('recovery_code')
    with op.batch_alter_table('caisse', schema=None) as batch_op:
        batch_op.drop_column('agents_second_factor_required')
    with op.batch_alter_table('account', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('uq_account_proconnect_sub'), type_='unique')
        batch_op.drop_column('proconnect_sub')
        batch_op.drop_column('second_factor_grace_until')
        batch_op.drop_column('totp_last_step')
        batch_op.drop_column('totp_enrolled_at')
        batch_op.drop_column('totp_pending_secret')
        batch_op.drop_column('totp_secret')
