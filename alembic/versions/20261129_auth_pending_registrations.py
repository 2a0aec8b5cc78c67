"""pending registrations; short codes in letters

A registration is kept pending until its e-mail is confirmed, and only then becomes a login.
Logins that were never activated move to pending_registrations (their open activation link keeps
working); downgrading moves pending registrations back as logins waiting for activation.

Revision ID: 20261129_auth
Revises: 0001
Create Date: 2026-11-29 10:00:00
"""

import hashlib
import secrets
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa
from alembic import op

import models.base

revision: str = "20261129_auth"
down_revision: str | None = "20261129_payments"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

UTC_TIME = models.base.UTCDateTime(timezone=True)

logins = sa.table(
    "logins",
    sa.column("id", sa.Integer),
    sa.column("email", sa.String),
    sa.column("phone", sa.String),
    sa.column("surname", sa.String),
    sa.column("name", sa.String),
    sa.column("patronymic", sa.String),
    sa.column("password_hash", sa.String),
    sa.column("activated_at", UTC_TIME),
    sa.column("consent_version", sa.String),
    sa.column("consent_at", UTC_TIME),
    sa.column("created_at", UTC_TIME),
)
tokens = sa.table(
    "email_tokens",
    sa.column("id", sa.Integer),
    sa.column("login_id", sa.Integer),
    sa.column("purpose", sa.String),
    sa.column("token_hash", sa.String),
    sa.column("expires_at", UTC_TIME),
    sa.column("used_at", UTC_TIME),
    sa.column("created_at", UTC_TIME),
)
subscriptions = sa.table(
    "subscriptions",
    sa.column("login_id", sa.Integer),
    sa.column("reading_reminders", sa.Boolean),
    sa.column("monthly_bill", sa.Boolean),
    sa.column("sms", sa.Boolean),
    sa.column("updated_at", UTC_TIME),
)
audit = sa.table(
    "audit_events",
    sa.column("action", sa.String),
    sa.column("login_id", sa.Integer),
    sa.column("telegram_user_id", sa.BigInteger),
)
pending = sa.table(
    "pending_registrations",
    sa.column("id", sa.Integer),
    sa.column("token_hash", sa.String),
    sa.column("code_hash", sa.String),
    sa.column("email", sa.String),
    sa.column("phone", sa.String),
    sa.column("surname", sa.String),
    sa.column("name", sa.String),
    sa.column("patronymic", sa.String),
    sa.column("password_hash", sa.String),
    sa.column("consent_version", sa.String),
    sa.column("consent_at", UTC_TIME),
    sa.column("telegram_user_id", sa.BigInteger),
    sa.column("expires_at", UTC_TIME),
    sa.column("created_at", UTC_TIME),
)


def _random_hash() -> str:
    return hashlib.sha256(secrets.token_bytes(32)).hexdigest()


def upgrade() -> None:
    op.create_table(
        "pending_registrations",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False, comment="of the link token"),
        sa.Column("code_hash", sa.String(length=64), nullable=False, comment="of the short code"),
        sa.Column("email", sa.String(length=254), nullable=False, comment="normalised, lower case"),
        sa.Column("phone", sa.String(length=20), nullable=False, comment="E.164"),
        sa.Column("surname", sa.String(length=100), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("patronymic", sa.String(length=100), nullable=True),
        sa.Column("password_hash", sa.String(length=255), nullable=False),
        sa.Column("consent_version", sa.String(length=32), nullable=False),
        sa.Column("consent_at", UTC_TIME, nullable=False),
        sa.Column("telegram_user_id", sa.BigInteger(), nullable=False, comment="who registered"),
        sa.Column("expires_at", UTC_TIME, nullable=False),
        sa.Column("created_at", UTC_TIME, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_pending_registrations")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_pending_registrations_token_hash")),
    )
    with op.batch_alter_table("pending_registrations", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_pending_registrations_email"), ["email"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_pending_registrations_expires_at"), ["expires_at"], unique=False
        )
    with op.batch_alter_table("email_tokens", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column(
                "code_hash",
                sa.String(length=64),
                nullable=True,
                comment="of the short code typed by hand; checked with the e-mail",
            )
        )
    _move_unactivated_logins()


def _move_unactivated_logins() -> None:
    connection = op.get_bind()
    rows = connection.execute(sa.select(logins).where(logins.c.activated_at.is_(None))).all()
    for login in rows:
        token = connection.execute(
            sa.select(tokens.c.token_hash, tokens.c.expires_at)
            .where(
                tokens.c.login_id == login.id,
                tokens.c.purpose == "activation",
                tokens.c.used_at.is_(None),
            )
            .order_by(tokens.c.id.desc())
            .limit(1)
        ).first()
        registrant = connection.execute(
            sa.select(audit.c.telegram_user_id)
            .where(audit.c.login_id == login.id, audit.c.action == "auth.register")
            .limit(1)
        ).scalar()
        connection.execute(
            pending.insert().values(
                token_hash=token.token_hash if token else _random_hash(),
                code_hash=_random_hash(),  # no code was ever sent: only the link works
                email=login.email,
                phone=login.phone,
                surname=login.surname,
                name=login.name,
                patronymic=login.patronymic,
                password_hash=login.password_hash,
                consent_version=login.consent_version,
                consent_at=login.consent_at,
                telegram_user_id=registrant or 0,
                expires_at=token.expires_at if token else login.created_at + timedelta(hours=24),
                created_at=login.created_at,
            )
        )
        connection.execute(tokens.delete().where(tokens.c.login_id == login.id))
        connection.execute(subscriptions.delete().where(subscriptions.c.login_id == login.id))
        connection.execute(logins.delete().where(logins.c.id == login.id))


def downgrade() -> None:
    connection = op.get_bind()
    now = datetime.now(UTC)
    taken = set(connection.execute(sa.select(logins.c.email)).scalars())
    for row in connection.execute(sa.select(pending).order_by(pending.c.id.desc())).all():
        if row.email in taken:
            continue
        taken.add(row.email)
        login_id = connection.execute(
            logins.insert()
            .values(
                email=row.email,
                phone=row.phone,
                surname=row.surname,
                name=row.name,
                patronymic=row.patronymic,
                password_hash=row.password_hash,
                activated_at=None,
                consent_version=row.consent_version,
                consent_at=row.consent_at,
                created_at=row.created_at,
            )
            .returning(logins.c.id)
        ).scalar_one()
        connection.execute(
            subscriptions.insert().values(
                login_id=login_id, reading_reminders=True, monthly_bill=True, sms=False,
                updated_at=now,
            )
        )
        connection.execute(
            tokens.insert().values(
                login_id=login_id, purpose="activation", token_hash=row.token_hash,
                expires_at=row.expires_at, created_at=row.created_at,
            )
        )
    with op.batch_alter_table("email_tokens", schema=None) as batch_op:
        batch_op.drop_column("code_hash")
    with op.batch_alter_table("pending_registrations", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_pending_registrations_expires_at"))
        batch_op.drop_index(batch_op.f("ix_pending_registrations_email"))
    op.drop_table("pending_registrations")
