"""The operator's commands run as the operator runs them: `python -m bot …` in a shell, judged
by stdout, stderr and the exit code (README: «Коды выхода»), on a SQLite file."""

from __future__ import annotations

import asyncio
import os
import sqlite3
import sys
from decimal import Decimal
from pathlib import Path

import pytest

from services.registry import HEADER

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "registry-example.csv"
HEAD = ";".join(HEADER)


class Shell:
    """A fresh folder and database; `run(...)` is `python -m bot ...` with a clean environment."""

    def __init__(self, tmp_path: Path) -> None:
        self.tmp_path = tmp_path
        self.db = tmp_path / "data" / "bot.db"
        clean = {k: v for k, v in os.environ.items() if not k.startswith(("BOT_", "SMTP_"))}
        self.env = {
            **clean,
            "DATABASE_URL": f"sqlite+aiosqlite:///{self.db}",
            "REDIS_URL": "",
            "LOG_LEVEL": "WARNING",
        }

    async def run(self, *args: str, **env: str) -> tuple[int, str, str]:
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "bot", *args,
            cwd=self.tmp_path, env={**self.env, "PYTHONPATH": str(ROOT), **env},
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        )  # fmt: skip
        out, err = await asyncio.wait_for(process.communicate(), 120)
        assert process.returncode is not None
        return process.returncode, out.decode(), err.decode()

    def query(self, sql: str, *params: object) -> list[tuple[object, ...]]:
        with sqlite3.connect(self.db) as db:
            return db.execute(sql, params).fetchall()


@pytest.fixture
def shell(tmp_path: Path) -> Shell:
    return Shell(tmp_path)


def row(**overrides: str) -> str:
    fields = {
        "account": "7400000101", "surname": "Иванов", "first_name": "Иван",
        "patronymic": "Петрович", "address": "г. Магнитогорск, ул. Металлургов, д. 5, кв. 12",
        "meter": "01234567", "zones": "1", "digits": "6", "verified_until": "31.12.2031",
        "reading_date": "20.11.2026", "t1": "12345,60", "t2": "", "t3": "",
    }  # fmt: skip
    fields.update(overrides)
    return ";".join(fields[h] for h in HEADER)


def assert_one_line(err: str) -> str:
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert "Traceback" not in err
    return lines[0]


async def test_import_partial_reimport_and_export(shell: Shell) -> None:
    """The registry round: import, a partial re-import that leaves the rest and the balance
    alone, then the export for billing, all as shell commands."""
    code, out, err = await shell.run("import-registry", str(EXAMPLE))
    assert code == 0, err
    assert "лицевые счета: создано 4" in out
    assert shell.query("SELECT count(*) FROM accounts") == [(4,)]

    shell.query("UPDATE accounts SET balance = 1234.56 WHERE number = '7400000101'")
    partial = shell.tmp_path / "partial.csv"
    partial.write_text(
        f"{HEAD}\n{row(address='г. Магнитогорск, ул. Металлургов, д. 5, кв. 14', t1='12400')}\n",
        encoding="utf-8",
    )
    code, out, err = await shell.run("import-registry", str(partial))
    assert code == 0, err
    assert "лицевые счета: создано 0, обновлено 1" in out
    assert shell.query("SELECT count(*) FROM accounts") == [(4,)]  # absent ones left alone
    assert shell.query("SELECT count(*) FROM meters") == [(5,)]
    balance, address = shell.query(
        "SELECT balance, address FROM accounts WHERE number = '7400000101'"
    )[0]
    assert Decimal(str(balance)) == Decimal("1234.56")  # the registry never touches the balance
    assert str(address).endswith("кв. 14")

    target = shell.tmp_path / "readings-2026-11.csv"
    code, out, err = await shell.run("export-readings", "--period", "2026-11", "--out", str(target))
    assert code == 0, err
    assert out == ""
    assert assert_one_line(err) == f"Выгружено показаний за ноябрь 2026: 7 строк → {target}"
    data = target.read_bytes()
    assert b"\r" not in data and data.endswith(b"\n")
    lines = data.decode("utf-8").splitlines()
    assert lines[0] == "account;meter;zone;reading_date;value;source;submitted_at"
    assert len(lines) == 8
    assert "7400000101;01234567;1;20.11.2026;12400,00;billing;" in data.decode()


async def test_every_bad_line_is_reported_and_nothing_changes(shell: Shell) -> None:
    code, _, err = await shell.run("import-registry", str(EXAMPLE))
    assert code == 0, err
    bad = shell.tmp_path / "bad.csv"
    lines = [
        HEAD,
        row(t1="99"),  # a good line, not applied because others are bad
        row(meter="A1", address="а" * 301),
        row(meter="A2", account="740"),
        row(meter="A3", account="7" * 21),
        row(meter="A4", digits="3"),
        row(meter="A5", digits="10"),
        row(meter="Б№5"),
        row(meter="A6", address='"ул. Мира; "кв" 5'),
        row(meter="A7", t1="1" * 30),
        row(meter="A8", zones="²"),
        row(meter="A9", account="٧٤٠٠٠٠٠١٠٩"),
    ]
    bad.write_text("\n".join(lines) + "\n", encoding="utf-8")
    code, out, err = await shell.run("import-registry", str(bad))
    assert code == 1
    assert out == ""
    assert "Traceback" not in err
    reported = [line for line in err.splitlines() if line.startswith("строка ")]
    assert [line.split(":")[0] for line in reported] == [f"строка {n}" for n in range(3, 13)]
    assert "ничего не изменено" in err
    assert shell.query("SELECT count(*) FROM meters") == [(5,)]
    assert shell.query("SELECT value FROM readings WHERE zone = 1 AND meter_id = 1") != [(99,)]

    edge = shell.tmp_path / "edge.csv"
    edge.write_text(
        "\n".join([HEAD, row(address="а" * 300, account="7401", meter="A-1/2.b", digits="4",
                             t1="9999,99"),
                   row(account="7" * 20, meter="Ж9", digits="9", t1="999999999")]) + "\n",
        encoding="utf-8",
    )  # fmt: skip
    code, out, err = await shell.run("import-registry", str(edge))
    assert code == 0, err
    assert "лицевые счета: создано 2" in out


async def test_files_the_commands_cannot_use_are_one_line_and_exit_2(shell: Shell) -> None:
    folder = shell.tmp_path / "folder"
    folder.mkdir()
    code, _, err = await shell.run("import-registry", str(folder))
    assert code == 2 and "это папка" in assert_one_line(err)
    code, _, err = await shell.run("import-registry", str(shell.tmp_path / "nope.csv"))
    assert code == 2 and "не найден" in assert_one_line(err)
    code, _, err = await shell.run("export-readings", "--period", "2026-11", "--out", str(folder))
    assert code == 2 and "это папка" in assert_one_line(err)
    missing = shell.tmp_path / "missing" / "r.csv"
    code, _, err = await shell.run("export-readings", "--period", "2026-11", "--out", str(missing))
    assert code == 2 and "Создайте её" in assert_one_line(err)
    code, _, err = await shell.run("export-readings", "--period", "2026-13")
    assert code == 2 and "ГГГГ-ММ" in assert_one_line(err)


async def test_export_applies_migrations_first(shell: Shell) -> None:
    """On a database that does not exist yet the export creates the schema and writes the
    header only."""
    target = shell.tmp_path / "empty.csv"
    code, _, err = await shell.run("export-readings", "--period", "2026-11", "--out", str(target))
    assert code == 0, err
    assert target.read_text(encoding="utf-8") == (
        "account;meter;zone;reading_date;value;source;submitted_at\n"
    )
    assert shell.query("SELECT count(*) FROM alembic_version") == [(1,)]


async def test_a_postgres_database_that_does_not_exist(shell: Shell) -> None:
    from tests.conftest import PG_ADMIN_URL, PG_AVAILABLE

    if not PG_AVAILABLE:
        pytest.skip("PostgreSQL is not reachable")
    url = PG_ADMIN_URL.rsplit("/", 1)[0] + "/mef_no_such_database"
    code, _, err = await shell.run("migrate", DATABASE_URL=url)
    assert code == 2
    line = assert_one_line(err)
    assert "mef_no_such_database" in line and "DATABASE_URL" in line and "createdb" in line


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("SMTP_PORT", "smtp"),
        ("SMTP_SECURITY", "ssl"),
        ("LOG_LEVEL", "loud"),
        ("MAX_CONCURRENT_UPDATES", "0"),
        ("MAX_UPLOAD_MB", "50"),
        ("CAPTCHA_ENABLED", "maybe"),
        ("STAFF_CHAT_ID", "staff-chat"),
        ("WEBHOOK_URL", "bot.example.ru/hook"),
        ("WEBHOOK_SECRET", "has spaces"),
        ("WEB_PORT", "99999"),
        ("TZ", "Moscow"),
        ("READING_WINDOW", "25-15"),
        ("DATABASE_URL", "mysql://db/mef"),
        ("TELEGRAM_API_URL", "api.telegram.org"),
        ("BOT_TOKEN", "123"),
    ],
)
async def test_a_malformed_setting_in_env_file_is_named(
    shell: Shell, variable: str, value: str
) -> None:
    """Each setting, written wrong into `.env` (the file is read from the working folder), stops
    `run` with one Russian line naming it, exit 2, before anything starts."""
    (shell.tmp_path / ".env").write_text(f"{variable}={value}\n", encoding="utf-8")
    env = {k: v for k, v in shell.env.items() if k != variable}
    shell.env = env
    code, out, err = await shell.run("run")
    assert code == 2
    line = assert_one_line(err)
    assert line.startswith(f"Ошибка конфигурации: {variable} — ")
    assert "Input should" not in line and "value is not" not in line  # no English from pydantic
    assert out == ""
