"""All models, imported here so metadata is complete for Alembic and `create_all`."""

from models.accounts import Account, AccountLink, SubscriberType
from models.appeals import (
    Appeal,
    AppealAttachment,
    AppealMessage,
    AppealStaffMessage,
    AppealStatus,
    AppealTopic,
    MessageDirection,
)
from models.audit import AuditEvent
from models.base import Base, utcnow
from models.billing import Charge, ChargeLine, LineBasis, Payment, PaymentChannel, PaymentStatus
from models.contracts import ApplicationStatus, ContractApplication, ContractDocument, ObjectType
from models.files import StoredFile
from models.fsm import FsmRecord
from models.logins import (
    AttemptCounter,
    EmailToken,
    Login,
    PendingRegistration,
    TelegramIdentity,
    TokenPurpose,
)
from models.meters import Meter, Reading, ReadingSource, ReadingStatus, ReadingSubmission
from models.notifications import Channel, JobRun, Notification, OutboxStatus, Subscription
from models.tariffs import Tariff

__all__ = [
    "Account",
    "AccountLink",
    "Appeal",
    "AppealAttachment",
    "AppealMessage",
    "AppealStaffMessage",
    "AppealStatus",
    "AppealTopic",
    "ApplicationStatus",
    "AttemptCounter",
    "AuditEvent",
    "Base",
    "Channel",
    "Charge",
    "ChargeLine",
    "ContractApplication",
    "ContractDocument",
    "EmailToken",
    "FsmRecord",
    "JobRun",
    "LineBasis",
    "Login",
    "MessageDirection",
    "Meter",
    "Notification",
    "ObjectType",
    "OutboxStatus",
    "Payment",
    "PaymentChannel",
    "PaymentStatus",
    "PendingRegistration",
    "Reading",
    "ReadingSource",
    "ReadingStatus",
    "ReadingSubmission",
    "StoredFile",
    "SubscriberType",
    "Subscription",
    "Tariff",
    "TelegramIdentity",
    "TokenPurpose",
    "utcnow",
]
