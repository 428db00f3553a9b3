"""The local simulated bank behind deduction runs (R27), for demos: open a test card's account, list
the deductions it has seen.

    python -m ops.bank_simulator open-account 6222021234567890123 --balance 1000.00 [--timeouts 1]
    python -m ops.bank_simulator deductions

Use test card numbers only: this is the bank's side, which knows card numbers (it files accounts under
a digest). `--timeouts N` makes the next N successful deductions lose their answer, as a bank timeout
would; the next deduction run then learns the success by asking about the attempt.
"""

from __future__ import annotations

import argparse
import json
import sys

from services.collection.deduction_setup import bank_ledger
from services.collection.domain.agreements import checked_card_number
from services.collection.gateways.bank_deduction import SimulatedBank
from services.common.clock import clock_from_file
from services.common.errors import InvalidArgument
from services.common.money import fen_from_yuan_text
from services.common.settings import Settings


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("command", choices=("open-account", "deductions"))
    parser.add_argument("card", nargs="?")
    parser.add_argument("--balance", default="0", help="yuan, e.g. 1000.00")
    parser.add_argument("--timeouts", type=int, default=0)
    args = parser.parse_args()
    settings = Settings()
    bank = SimulatedBank(bank_ledger(settings), clock_from_file(settings.clock_file))
    if args.command == "deductions":
        sys.stdout.write(json.dumps(bank.deductions(), ensure_ascii=False, indent=1) + "\n")
        return
    try:
        card = checked_card_number(args.card or "")
        balance = fen_from_yuan_text(args.balance)
    except (InvalidArgument, ValueError) as error:
        sys.stderr.write(f"{error}\n")
        sys.exit(1)
    bank.open_account(card, balance, timeouts=args.timeouts)
    sys.stderr.write(f"account for card ****{card[-4:]} holds {args.balance} yuan\n")


if __name__ == "__main__":
    main()
