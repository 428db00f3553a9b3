"""Builds the deduction run's collaborators from settings (bank, card vault, notifier)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from services.collection.card_vault import CardVault
from services.collection.gateways.bank_deduction import SimulatedBank
from services.collection.gateways.notifier import LocalNotifier
from services.collection.handlers.deductions import DeductionConfig, DeductionServices
from services.common.clock import Clock
from services.common.settings import Settings


def notifier_from(settings: Settings) -> LocalNotifier:
    path = Path(settings.notifier_outbox_file) if settings.notifier_outbox_file else None
    return LocalNotifier(path, settings.notifier_delay_ms / 1000)


def bank_ledger(settings: Settings) -> Path:
    """The simulated bank's file; without one configured it lives in run/, which git ignores."""
    return Path(settings.bank_simulator_file or "run/bank_simulator.json")


def deduction_services(settings: Settings, clock: Clock) -> DeductionServices:
    return DeductionServices(
        bank=SimulatedBank(bank_ledger(settings), clock),
        vault=CardVault.from_settings(settings.card_keys, settings.card_key_id),
        notifier=notifier_from(settings),
    )


def deduction_config(settings: Settings) -> DeductionConfig:
    return DeductionConfig(
        order_ttl=dt.timedelta(seconds=settings.deduction_order_ttl_seconds),
        clock_skew=dt.timedelta(seconds=settings.payment_clock_skew_seconds),
        max_failed_runs=settings.deduction_max_failed_runs,
        bank_timeout_seconds=settings.bank_timeout_seconds,
    )
